"""`neuronscope tune`: figures and data for a few neurons; joint tuning's re-indexing."""

from __future__ import annotations

import json

import numpy as np
import torch

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.tuning import joint
from neuronscope.tuning.units import dataset_stats


def _images(shared, tmp_path, n=2):
    path = tmp_path / "images.txt"
    path.write_text("\n".join(str(p) for p in sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:n]))
    return str(path)


def test_cli_tune_writes_figures_and_data(shared, tmp_path, capsys):
    out = tmp_path / "tune"
    code = main(["tune", "efficientnet_lite0", "block6_expand:375", "block6_expand:115", "--out", str(out),
                 "--images", _images(shared, tmp_path), "--step", "90", "--radii", "2",
                 "--experiments", "lines,angles,morphs,fill"])
    assert code == 0
    doc = json.loads((out / "curves.json").read_text())
    assert doc["units"] == [375, 115] and doc["layer"] == "block6_expand" and doc["position"] == [6, 6]
    assert np.array(doc["z"]).shape == (4, 2, 2) and doc["axes"]["orientation_deg"][:2] == [0.0, 90.0]
    assert "SDs from dataset mean" in doc["unit_of_z"]
    names = {"curves_heatmaps.png", "curves_radial.png", "lines_radial.png", "angles.png", "morphs.png",
             "fill_colour.png", "lines.npz", "fill_colour.json", "morphs.json", "angles.npz"}
    assert names <= {p.name for p in out.iterdir()}
    assert str(out / "curves_radial.png") in capsys.readouterr().out.split()


def test_cli_tune_rejects_bad_input(inception_file, tmp_path):
    out = str(tmp_path / "tune")
    assert main(["tune", "inceptionv1", "mixed3b:999", "--weights", str(inception_file), "--out", out]) == 2
    assert main(["tune", "inceptionv1", "mixed3b:1", "--weights", str(inception_file), "--out", out,
                 "--experiments", "nope"]) == 2


def test_joint_tuning_reindexes_rotations_by_orientation(effnet, shared, tmp_path):
    images = [str(p) for p in sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:2]]
    stats = dataset_stats(effnet, "block6_expand", images=images)
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    result = joint.joint_tuning(probe, {375: 90.0, 115: 180.0}, stats, examples=1, step_deg=90.0)
    assert result.raw.shape == (2, 4, 2)
    # by hand: unit 115's top example rotated by a shows orientation 180 + a
    image, centres = joint.example_images(stats, 115, 1)
    windows = joint.rotated_windows(probe, image[0], centres[0], torch.tensor([0.0, 90.0, 180.0, 270.0]))
    values = probe.evaluate(windows, [375, 115]).double().numpy()
    for k, a in enumerate((0, 90, 180, 270)):
        np.testing.assert_allclose(result.raw[1, ((180 + a) % 360) // 90], values[k], rtol=1e-5, atol=1e-5)
    # unrotated: the example's own value (up to the border, reflected here but padded in the full image)
    np.testing.assert_allclose(values[0, 1], stats.top(115)[0].value, rtol=1e-2)
