"""Neuron surgery: bootstrap intervals, the split forward pass, and ablation / replacement on a
tiny wrapped model whose predictions provably do or do not depend on the edited units."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import neuronscope as ns
from neuronscope.aann import ArtificialCurves, Motif
from neuronscope.circuits import Span
from neuronscope.evaluate import accuracy
from neuronscope.surgery import SplitForward, mean_interval, recovered_fraction, resample_indices, run_surgery


def test_bootstrap_matches_the_binomial():
    n, k = 400, 300
    correct = torch.zeros(n, dtype=torch.bool)
    correct[:k] = True
    lo, hi = mean_interval(correct, resample_indices(n, 4000, seed=3))
    p = k / n
    half = 1.959964 * math.sqrt(p * (1 - p) / n)  # the normal approximation of the binomial
    assert lo == pytest.approx(p - half, abs=0.006) and hi == pytest.approx(p + half, abs=0.006)
    assert (lo, hi) == mean_interval(correct, resample_indices(n, 4000, seed=3))  # seeded


def test_recovered_fraction():
    def correct(frac):
        return torch.arange(100) < round(100 * frac)

    assert float(recovered_fraction(correct(0.9), correct(0.5), correct(0.8))) == pytest.approx(0.75)
    assert float(recovered_fraction(correct(0.9), correct(0.5), correct(0.5))) == pytest.approx(0.0)
    assert math.isnan(float(recovered_fraction(correct(0.9), correct(0.9), correct(0.8))))  # no drop


# --- a tiny model: unit 0 of "layer" is R - B and alone decides the class -----------------------

class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.source = nn.Conv2d(3, 3, 1, bias=False)
        self.source.weight.data = torch.eye(3).view(3, 3, 1, 1)  # R, G, B
        self.layer = nn.Conv2d(3, 4, 1, bias=False)
        self.layer.weight.data = torch.tensor([[1.0, 0, -1], [0, 1, 0], [1, 1, 1], [0.5, -1, 0]]).view(4, 3, 1, 1)
        self.head = nn.Linear(4, 5, bias=False)  # classes 2-4 always score 0
        self.head.weight.data = torch.zeros(5, 4)
        self.head.weight.data[:2, 0] = torch.tensor([1.0, -1.0])  # units 1-3 have no say
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.head(self.layer(self.relu(self.source(x))).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """5 red images (class 0) and 3 blue ones (class 1)."""
    folder = tmp_path_factory.mktemp("colours")
    rows = []
    for i, (rgb, label) in enumerate([((230, 25, 25), 0)] * 5 + [((25, 25, 230), 1)] * 3):
        Image.fromarray(np.full((256, 256, 3), rgb, dtype=np.uint8)).save(folder / f"{i}.png")
        rows.append((f"{i}.png", label))
    return folder, rows


@pytest.fixture(scope="module")
def tiny():
    return ns.wrap(Tiny(), layers={"source": "relu", "layer": None}, name="tiny")


def artificial(weights) -> ArtificialCurves:
    w = torch.tensor(weights, dtype=torch.float32).view(1, 3, 1, 1)
    return ArtificialCurves(w, Span((1, 1), (1, 1), (0, 0)), [0.0], [], Motif(), "source", "layer")


def test_surgery_on_a_tiny_model(tiny, labelled):
    folder, rows = labelled
    result = run_surgery(tiny, "layer", [0], folder, rows, artificial=artificial([2.0, 0.0, -2.0]),
                         random_seeds=(0, 1, 2), batch_size=3, progress=False)
    assert result.accuracy("unchanged", 1) == 1.0 == accuracy(tiny, folder, rows, progress=False).top1
    # unit 0's mean is (5 - 3) / 8 * (R - B) > 0: every image becomes class 0 (top-5 holds every class)
    assert result.accuracy("ablated", 1) == pytest.approx(5 / 8)
    assert result.drop("ablated", 1)[0] == pytest.approx(3 / 8)
    # 2 (R - B) standardised and given unit 0's mean and std is unit 0 itself
    assert result.accuracy("replaced", 1) == 1.0
    assert result.recovered(1)[0] == pytest.approx(1.0)
    # random units are drawn from 1-3, which the head ignores
    assert all(0 not in c.units and len(c.units) == 1 for c in result.conditions if c.name.startswith("random"))
    assert result.accuracy("random", 1) == 1.0
    assert re.fullmatch(r"unchanged_top5=1\.0000 ablated_top5=1\.0000 replaced_top5=1\.0000 random_top5=1\.0000",
                        result.line())
    # without memory for the kept activations every batch is decoded and run again: same result
    again = run_surgery(tiny, "layer", [0], folder, rows, artificial=artificial([2.0, 0.0, -2.0]),
                        random_seeds=(0, 1, 2), batch_size=3, progress=False, cache_mb=0)
    assert again.notes["cached_batches"] == 0
    assert all(torch.equal(again.correct1[k], result.correct1[k]) for k in result.correct1)


def test_replacement_with_the_opposite_unit_fails(tiny, labelled):
    folder, rows = labelled
    result = run_surgery(tiny, "layer", [0], folder, rows, artificial=artificial([-1.0, 0.0, 1.0]),
                         random_seeds=(), batch_size=8, progress=False)
    # B - R rescaled to unit 0's statistics is 2 * mean - unit 0: every prediction flips
    assert result.accuracy("replaced", 1) == 0.0
    assert result.line().endswith("random_top5=nan")


class Residual(nn.Module):
    """b = conv(a) has a residual connection around it: a tail from b alone is wrong."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b, self.head = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), nn.Linear(4, 5)

    def forward(self, x):
        a = self.a(x)
        return self.head((torch.relu(self.b(a)) + a).mean(dim=(2, 3)))


def test_split_avoids_residual_connections():
    model = ns.wrap(Residual(), layers=["a", "b"])
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    split = SplitForward(model, "b", images[:2])
    assert split.start == "a" and split.size == (32, 32)

    def edit(v):
        return v.index_fill(1, torch.tensor([2]), 0.0)

    with torch.no_grad():
        want = model.capture(images, ["logits"], interventions={"b": edit})["logits"]
        got = split.tail(split.head(images, ["b"])["a"], {"b": edit})
    torch.testing.assert_close(got, want)


def test_split_on_efficientnet(effnet, shared):
    from neuronscope.images import standard_view

    folder = shared / "data" / "imagenet-sample"
    images = torch.stack([standard_view(p) for p in sorted(folder.glob("*.jpg"))[:2]])
    split = SplitForward(effnet, "block6_expand", images)
    assert split.start == "block5"  # block6 adds block5's output back: block6_expand cannot start a tail

    def edit(v):
        return v.index_fill(1, torch.tensor([7, 100]), 0.0)

    with torch.no_grad():
        want = effnet.capture(images, ["logits"], interventions={"block6_expand": edit})["logits"]
        got = split.tail(split.head(images, ["block6_expand"])["block5"], {"block6_expand": edit})
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_cli_last_line(tiny, labelled, tmp_path, monkeypatch, capsys):
    from neuronscope.cli import main
    from neuronscope.cli.commands import surgery

    folder, rows = labelled
    labels = tmp_path / "labels.csv"
    labels.write_text("file,cls\n" + "".join(f"{f},{c}\n" for f, c in rows))
    monkeypatch.setattr(surgery, "model_from_args", lambda args: tiny)
    argv = ["surgery", "tiny", "--layer", "layer", "--images", str(folder), "--labels", str(labels),
            "--label-column", "cls", "--out", str(tmp_path / "out"), "--family", "0:0", "--from", "source",
            "--lines", "none", "--curves", "0:0", "--seeds", "0,1", "--batch-size", "4"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # the artificial unit reads R, which predicts the class as well as unit 0 (R - B) does
    assert lines[-1] == "unchanged_top5=1.0000 ablated_top5=1.0000 replaced_top5=1.0000 random_top5=1.0000"
    summary = json.loads((tmp_path / "out" / "surgery.json").read_text())
    assert summary["conditions"]["ablated"]["top1"] == pytest.approx(5 / 8)
    assert summary["conditions"]["replaced"]["top1"] == 1.0
    assert main(argv[:-8] + ["--family", "0:zero"]) == 2
    assert capsys.readouterr().err.startswith("error: bad family")
