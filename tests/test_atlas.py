"""The atlas: task results against independent computations, incremental and killed builds, the site's files."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import neuronscope as ns
from neuronscope.atlas import Settings, build_atlas, parse_units
from neuronscope.errors import NeuronscopeError

ROOT = Path(__file__).resolve().parents[1]
UNITS = "0-5"


def tiny_model():
    """Two convolutions: conv1 -> conv2's expanded weights are conv2's own weights (ReLU as identity)."""
    torch.manual_seed(0)
    net = nn.Sequential()
    net.add_module("conv1", nn.Conv2d(3, 8, 5, stride=2, padding=2))
    net.add_module("relu1", nn.ReLU())
    net.add_module("conv2", nn.Conv2d(8, 12, 3, stride=2, padding=1))
    net.add_module("relu2", nn.ReLU())
    return ns.wrap(net, layers={"conv1": "relu", "conv2": "relu"}, name="tiny")


def tiny_settings(**changes) -> Settings:
    base = dict(steps=4, size=32, diversity=2, examples=3, thumb=24, chunk=4, shard_images=8, batch_size=8,
                resize=64, image_size=64)
    return Settings(**{**base, **changes})


def build(out, **kw):
    return build_atlas(tiny_model(), ["conv2", "conv1"], None, out, units=UNITS, settings=kw.pop("settings", None)
                       or tiny_settings(), progress=False, **kw)


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "site"
    result = build(out)
    return out, result


def test_parse_units():
    assert parse_units("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_units("309,115") == [115, 309]
    assert parse_units(None) is None and parse_units("all") is None
    for bad in ("3-1", "x", "-2", ""):
        with pytest.raises(NeuronscopeError):
            parse_units(bad)


def test_build_counts_and_layout(site):
    out, result = site
    assert result.units == 12 and result.pages == 1 + 2 + 12
    assert len(result.ran) == result.tasks  # a fresh build runs every task
    for layer in ("conv1", "conv2"):
        for unit in range(6):
            assert (out / "units" / layer / f"{unit}.html").is_file()
            for suffix in ("pos", "neg", "div0", "div1", "top0", "top1", "top2"):
                with Image.open(out / "img" / layer / f"{unit}_{suffix}.png") as im:
                    assert im.size == ((32, 32) if suffix[:3] != "top" else (24, 24))
        assert not (out / "units" / layer / "6.html").exists()
    assert (out.parent / "site.work" / "build.log").is_file() and not (out / "build.log").exists()
    # A chunk renders only its chosen units: 4 and 5 of the range 4-7.
    rendered = sorted(p.name for p in (out.parent / "site.work" / "tasks" / "featvis.conv1.4-8").glob("*_pos.png"))
    assert rendered == ["4_pos.png", "5_pos.png"]


def test_strongest_inputs_are_conv2_weights(site):
    """conv1 -> conv2 is one convolution: the strongest inputs of conv2:u are the conv1 units with
    the largest summed |weight| in conv2.weight[u]; links go to built units only."""
    out, _ = site
    weight = tiny_model().net.conv2.weight.detach()
    for unit in (0, 5):
        page = (out / "units" / "conv2" / f"{unit}.html").read_text()
        inputs = page.split("Strongest inputs from conv1")[1]
        listed = [int(u) for u in re.findall(r"conv1:(\d+)</", inputs)]
        expected = torch.argsort(weight[unit].abs().sum((1, 2)), descending=True, stable=True).tolist()
        assert listed == expected[:8]
        for u in listed:
            linked = f'href="../../units/conv1/{u}.html"' in inputs
            assert linked == (u < 6)
        sums = [float(v) for v in re.findall(r"<br>([+-][0-9.e+-]+)</figcaption>", inputs)]
        expected_sums = weight[unit].sum((1, 2))[expected[:8]].numpy()
        np.testing.assert_allclose(sums, expected_sums, rtol=5e-3, atol=1e-6)  # shown to 3 significant digits
    # Outputs of conv1:2: the conv2 units whose kernels from conv1:2 are strongest.
    page = (out / "units" / "conv1" / "2.html").read_text()
    outputs = page.split("Strongest outputs to conv2")[1]
    listed = [int(u) for u in re.findall(r"conv2:(\d+)</", outputs)]
    assert listed == torch.argsort(weight[:, 2].abs().sum((1, 2)), descending=True, stable=True).tolist()[:8]


def test_examples_are_the_largest_activations(site):
    """The top example of a unit is its largest pre-activation over every position of every image,
    shown in SDs of all those values (computed here directly from the model)."""
    from neuronscope.dataset import resolve_source
    from neuronscope.dataset.sources import open_item
    from neuronscope.images import standard_view

    out, _ = site
    model = tiny_model()
    source = resolve_source(None)
    pixels = torch.stack([standard_view(open_item(source.kind, source.root, i, source.arrays), 64, 64)
                          for i in source.ids])
    with torch.no_grad():
        acts = model.capture(pixels, ["conv2"], pre_relu=True)["conv2"].double()
    for unit in (1, 4):
        values = acts[:, unit].flatten()
        page = (out / "units" / "conv2" / f"{unit}.html").read_text()
        shown = [float(v) for v in re.findall(r"<figcaption>([+-][0-9.]+) SD</figcaption>", page)]
        top = torch.sort(values, descending=True).values[:3]
        expected = ((top - values.mean()) / values.std(unbiased=False)).numpy()
        np.testing.assert_allclose(shown, expected, atol=0.051)
        assert shown == sorted(shown, reverse=True) and len(shown) == 3


def test_featvis_files_are_their_units(site):
    """Each unit's picture is the visualisation of that unit (its chunk's chosen units, 4 and 5, in one batch)."""
    out, _ = site
    images = ns.visualize(tiny_model(), ["conv1:4", "conv1:5"], steps=4, size=32, seed=0, progress=False)
    for i, unit in enumerate((4, 5)):
        saved = np.asarray(Image.open(out / "img" / "conv1" / f"{unit}_pos.png"))
        expected = (images[i].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(saved, expected)


def test_no_machine_specific_text(site):
    out, _ = site
    host = socket.gethostname()
    for name, data in tree(out).items():
        if name.endswith((".html", ".json", ".js", ".css")):
            text = data.decode()
            assert str(out.parent) not in text and str(ROOT) not in text, name
            assert host not in text and not re.search(r"20\d\d-\d\d-\d\d", text), name


def test_rerun_runs_only_changed_tasks(site):
    out, _ = site
    before = tree(out)
    again = build(out)
    assert again.ran == []
    changed = build(out, settings=tiny_settings(steps=5))
    assert sorted({t.split(".")[0] for t in changed.ran}) == ["featvis"] and len(changed.ran) == 4
    assert tree(out) != before
    build(out)  # back to the original settings: featvis reruns, the site is as before
    assert tree(out) == before


_KILLED = """
import os, signal, sys
sys.path.insert(0, {root!r})
from neuronscope.atlas import tasks
from tests.test_atlas import build
real = tasks.execute
def execute(task, *args):
    if task.id == {victim!r}:
        os.kill(os.getpid(), signal.SIGKILL)   # killed in the middle of the build
    return real(task, *args)
tasks.execute = execute
build({out!r})
"""


def test_killed_build_rerun_finishes_only_missing_tasks(site, tmp_path):
    reference, first = site
    out = tmp_path / "site"
    victim = "featvis.conv2.4-8"
    script = _KILLED.format(root=str(ROOT), victim=victim, out=str(out))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr
    finished = {p.parent.name for p in (tmp_path / "site.work" / "tasks").glob("*/done.json")}
    order = first.ran  # the plan's order
    assert finished == set(order[: order.index(victim)]) and finished
    rerun = build(out)
    assert rerun.ran == order[order.index(victim):]
    assert tree(out) == tree(reference)


def test_refuses_a_folder_that_is_not_an_atlas_before_any_work(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(NeuronscopeError, match="not an atlas"):
        build(out)
    assert (out / "notes.txt").read_text() == "keep me" and not (tmp_path / "mine.work").exists()
