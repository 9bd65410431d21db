"""The weights, circuit and edit-echo commands: outputs on EfficientNet-Lite0, one-line errors."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch

from neuronscope.cli import main


@pytest.fixture
def run(capsys):
    """The CLI in-process (what `neuronscope ...` calls): exit code, stdout, stderr."""
    def call(*args):
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return call


def folded_expand(effnet):
    block = effnet.net._blocks[6]
    bn = block._bn0
    return (block._expand_conv.weight[:, :, 0, 0] * (bn.weight / torch.sqrt(bn.running_var + bn.eps))[:, None]).detach()


def test_weights_command(run, tmp_path, effnet):
    (tmp_path / "fams.json").write_text(json.dumps({"first": [0, 1, 2], "second": [10, 11]}))
    out = run("weights", "efficientnet_lite0", "block6_expand:7", "--from", "block5", "--out", tmp_path / "o",
              "--families", tmp_path / "fams.json", "--top", 12)
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "o" / "block6_expand_7_from_block5.json").read_text())
    w = folded_expand(effnet)[7]
    assert summary["strongest_positive"][0][0] == int(w.argmax())
    assert summary["strongest_negative"][0][0] == int(w.argmin())
    assert summary["families"]["contributions"]["first"] == pytest.approx(float(w[:3].clamp_min(0).sum()), rel=1e-4)
    assert (tmp_path / "o" / "block6_expand_7_from_block5_families.png").exists()


def test_circuit_command(run, tmp_path, effnet):
    out = run("circuit", "efficientnet_lite0", "--from", "block5", "--to", "block6_expand", "--out", tmp_path,
              "--source-family", "28:38.6,26:217.8,0:250.7,64:229.9",
              "--target-family", "36:4.1,455:18.7,391:180.2,453:236")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("equivariance correlation=")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["source_family"]["units"] == [28, 26, 64, 0]  # by orientation: 38.6, 217.8, 229.9, 250.7
    w = folded_expand(effnet)
    use = w[:, [28, 26, 0, 64]].abs().sum(1)
    assert summary["downstream"][0]["unit"] == int(use.argmax())
    for name in ("matrix.png", "equivariance.png", "paths.png", "downstream.png", "matrix.npz"):
        assert (tmp_path / name).exists()


def test_edit_echo_command(run, tmp_path, shared):
    images = tmp_path / "images"
    images.mkdir()
    for path in sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:2]:
        shutil.copy(path, images)
    out = run("edit-echo", "efficientnet_lite0", "--from", "block5", "--to", "block6_expand", "--out", tmp_path / "o",
              "--source-family", "28:38.6,26:217.8,0:250.7", "--target-family", "36:4.1,455:18.7,391:180.2",
              "--images", images, "--step-deg", 45, "--radii", 2)
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("mean_echo_before=") and "of 3" in last
    summary = json.loads((tmp_path / "o" / "echo.json").read_text())
    assert summary["target_units"] == [36, 455, 391] and "negative weights" in summary["edit"][0]
    assert (tmp_path / "o" / "echo.png").exists() and (tmp_path / "o" / "tuning_after.npz").exists()


@pytest.mark.parametrize("args, message", [
    (["weights", "efficientnet_lite0", "block6_expand:7", "--from", "nope", "--out", "x"], "unknown layer"),
    (["circuit", "efficientnet_lite0", "--from", "block6_expand", "--to", "block5", "--out", "x",
      "--source-family", "1:0", "--target-family", "2:0"], "does not come after"),
    (["edit-echo", "efficientnet_lite0", "--from", "block5", "--to", "block6_expand", "--out", "x",
      "--source-family", "a:b", "--target-family", "1:0"], "expected UNIT:DEG"),
])
def test_bad_input_is_one_line_exit_2(run, args, message):
    out = run(*args)
    assert out.returncode == 2 and out.stderr.startswith("error:") and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
