"""neuronscope.families: tuning-curve statistics on analytic curves, and recovery of a planted
family of arc filters (at known orientations) among distractor filters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.dataset import compute_stats
from neuronscope.errors import NeuronscopeError
from neuronscope.families import angular_distance, coverage_gaps, find_family, tuning_peak

THETA = np.arange(0, 360, 5.0)


def von_mises(mu, kappa=4.0, theta=THETA):
    return np.exp(kappa * (np.cos(np.deg2rad(theta - mu)) - 1))


def test_peak_width_and_selectivity_of_a_von_mises_curve():
    p = tuning_peak(THETA, von_mises(37.0))
    assert p.orientation == pytest.approx(37.0, abs=1.0)
    # half height between min and max: cos(d) = 1 + ln((1 + e^-8) / 2) / 4
    half = np.rad2deg(np.arccos(1 + np.log((1 + np.exp(-8)) / 2) / 4))
    assert p.width == pytest.approx(2 * half, abs=2.0)
    assert p.echo == 0.0
    on_grid = von_mises(35.0)  # peak sampled, so max = 1: selectivity = 1 - mean = 1 - I0(4) e^-4
    assert tuning_peak(THETA, on_grid).selectivity == pytest.approx(1 - np.i0(4.0) * np.exp(-4.0), abs=1e-6)


def test_echo_is_the_relative_height_of_the_opposite_peak():
    curve = von_mises(300.0) + 0.4 * von_mises(120.0, kappa=8.0)
    p = tuning_peak(THETA, curve)
    assert p.orientation == pytest.approx(300.0, abs=1.5)
    assert p.echo == pytest.approx(0.4, abs=0.02)
    assert tuning_peak(THETA, von_mises(300.0) + 0.4 * von_mises(200.0, kappa=8.0)).echo == 0.0  # not opposite


def test_line_period_and_gaps():
    theta = np.arange(0, 180, 5.0)
    p = tuning_peak(theta, np.exp(4 * (np.cos(np.deg2rad(2 * (theta - 170))) - 1)), period=180.0)
    assert angular_distance(p.orientation, 170.0, 180.0) < 1.0
    assert list(coverage_gaps([350, 10, 100], 360)) == [90.0, 250.0, 20.0]
    assert tuning_peak(theta, np.ones(36), 180.0).width == 180.0


# -- a planted family ---------------------------------------------------------------------
K = 31
ARCS = [15.0 + 40 * i for i in range(9)]  # off the 10-degree sweep grid
LINES = [0.0, 60.0, 120.0]


def _frame():
    c = (K - 1) / 2
    rows, cols = np.mgrid[0:K, 0:K]
    return cols - c, c - rows  # x right, y up


def arc_filter(theta_deg, radius=7.0, half_angle=90.0):
    """Pixels within 1.25 px of the arc whose outward normal at its midpoint (the filter's centre) is theta."""
    x, y = _frame()
    t = np.deg2rad(theta_deg)
    cx, cy = -radius * np.cos(t), -radius * np.sin(t)
    off = np.rad2deg(np.angle(np.exp(1j * (np.arctan2(y - cy, x - cx) - t))))
    return ((np.abs(np.hypot(x - cx, y - cy) - radius) <= 1.25) & (np.abs(off) <= half_angle)).astype(float)


def line_filter(theta_deg, half_length=9.0):
    x, y = _frame()
    t = np.deg2rad(theta_deg)
    return ((np.abs(x * np.cos(t) + y * np.sin(t)) <= 1.25) & (np.abs(-x * np.sin(t) + y * np.cos(t)) <= half_length)
            ).astype(float)


def blob(sigma):
    x, y = _frame()
    return np.exp(-(x * x + y * y) / (2 * sigma**2))


def smooth_noise(seed, sigma=2.0):
    g = torch.Generator().manual_seed(seed)
    kernel = torch.from_numpy(blob(sigma)).float()[None, None]
    noise = F.conv2d(torch.randn(1, 1, 2 * K, 2 * K, generator=g), kernel)[0, 0, :K, :K].numpy()
    return noise * (blob(6.0) > 0.1)


def planted_model():
    """Dark ink drives arcs 0-8, lines 9-11 and blobs 12-13; 14-17 are smooth random filters.
    Every filter sums to zero, so a blank image gives 0."""
    filters = [-arc_filter(t) for t in ARCS] + [-line_filter(t) for t in LINES]
    filters += [-blob(2.0), blob(6.0) - 2 * blob(2.0)] + [smooth_noise(s) for s in range(4)]
    w = np.stack([f - f.mean() for f in filters])
    w /= np.abs(w).sum(axis=(1, 2), keepdims=True)
    conv = nn.Conv2d(3, len(filters), K, padding=K // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w).float()[:, None].repeat(1, 3, 1, 1) / 3)
    return ns.wrap(nn.Sequential(conv), layers={"0": "relu"}, name="planted")


@pytest.fixture(scope="module")
def planted(shared):
    model = planted_model()
    images = sorted(str(p) for p in (shared / "data" / "imagenet-sample").glob("*.jpg"))[:4]
    return model, compute_stats(model, "0", images, figures="none", progress=False, workers=0)


def test_planted_curve_family_is_recovered(planted):
    model, stats = planted
    family = find_family(model, "0", "curve", stats=stats, input_size=64)
    assert [m.unit for m in family.members] == list(range(len(ARCS)))  # ordered by orientation, no distractor
    for m in family.members:
        assert angular_distance(m.orientation_deg, ARCS[m.unit]) <= 10.0
        assert m.peak_z >= 4 and 0 < m.width_deg < 180 and m.echo is not None
    assert family.gaps.max() == pytest.approx(40.0, abs=10.0)
    assert family.to_dict()["kind"] == "curve"


def test_planted_line_family_is_recovered(planted):
    model, stats = planted
    family = find_family(model, "0", "line", stats=stats, input_size=64)
    assert sorted(m.unit for m in family.members) == [9, 10, 11]
    for m in family.members:
        assert angular_distance(m.orientation_deg, LINES[m.unit - 9], 180.0) <= 10.0 and m.echo is None


def test_unknown_kind(planted):
    with pytest.raises(NeuronscopeError):
        find_family(planted[0], "0", "blob", stats=planted[1])


def test_cli_family_writes_json_and_figure(inception_file, shared, tmp_path, capsys):
    images = tmp_path / "images.txt"
    images.write_text("\n".join(str(p) for p in sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:2]))
    out = tmp_path / "fam" / "family.json"
    code = main(["family", "inceptionv1", "--weights", str(inception_file), "--json", str(out), "--images",
                 str(images), "--step", "30", "--min-peak", "1"])
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["model"] == "inceptionv1" and doc["layer"] == "mixed3b" and doc["kind"] == "curve"
    assert len(doc["members"]) >= 3  # so the checks below check something
    for m in doc["members"]:
        assert set(m) == {"unit", "orientation_deg", "peak_z", "width_deg", "echo"} and m["peak_z"] >= 1
    assert [m["orientation_deg"] for m in doc["members"]] == sorted(m["orientation_deg"] for m in doc["members"])
    assert (tmp_path / "fam" / "family_radial.png").stat().st_size > 10_000
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"members={len(doc['members'])} ")
    assert main(["family", "inceptionv1", "nolayer", "--weights", str(inception_file), "--json", str(out)]) == 2
