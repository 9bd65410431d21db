"""Universality scan: a planted family is found, its random-weight control is scanned at the same
layer, threshold clearances and per-threshold counts agree with re-running find_family with that
threshold lifted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from neuronscope.experiments.universality import (
    THRESHOLDS,
    clearance,
    random_control,
    threshold_counts,
    thresholds,
    universality,
)
from neuronscope.families import find_family
from tests.test_families import ARCS, planted_model

LIFTED = {"min_peak": -math.inf, "min_selectivity": -math.inf, "max_drift": math.inf, "min_contrast": -math.inf}


@pytest.fixture(scope="module")
def scan(shared):
    model = planted_model()
    model.input_size = 64
    images = sorted(str(p) for p in (shared / "data" / "imagenet-sample").glob("*.jpg"))[:4]
    result = universality([model], layers={"planted": ["0"]}, step_deg=10, images=images, featvis_steps=4,
                          featvis_size=32, progress=False)
    return model, images, result


def test_planted_family_and_control(scan, tmp_path):
    model, _, result = scan
    (s,) = result.scans
    assert s.best("curve") == "0" and list(s.families["curve"]["0"].units) == list(range(len(ARCS)))
    assert s.best("line") == "0" and sorted(s.families["line"]["0"].units) == [9, 10, 11]
    control = s.controls["curve"]["0"]
    assert control.model.startswith("planted (random weights") and len(control) < len(ARCS) // 2
    assert set(s.pictures) == set(range(len(ARCS))) and s.pictures[0].shape == (32, 32, 3)
    files = result.save(tmp_path)
    assert [f.name for f in files] == ["universality.json", "universality.md", "universality.png"]
    row = (tmp_path / "universality.md").read_text().splitlines()[2]
    assert row.startswith(f"| planted | 0 | {len(ARCS)} ({len(control)}) |")


def test_random_control_is_a_fresh_seeded_copy():
    model = planted_model()
    a, b, c = random_control(model, 0), random_control(model, 0), random_control(model, 1)
    w, wa = model.net[0].weight, a.net[0].weight
    assert not np.allclose(w.detach(), wa.detach()) and (wa == b.net[0].weight).all()
    assert not (wa == c.net[0].weight).all()
    assert model.net[0].weight is w and not np.allclose(w.detach(), wa.detach())


def test_clearance_and_threshold_counts_against_lifting_each_threshold(scan):
    model, images, result = scan
    family = result.scans[0].families["curve"]["0"]
    limits = thresholds()
    assert limits == {"min_peak": 4.0, "min_selectivity": 0.4, "max_drift": 30.0, "min_contrast": 0.15}
    rows = clearance(family)
    assert [r["unit"] for r in rows] == list(family.units)
    for r in rows:  # members clear every threshold
        assert all(r[name] >= 0 for name in THRESHOLDS) and r["closest"] in THRESHOLDS
    unit = rows[0]["unit"]
    assert rows[0]["min_peak"] == pytest.approx((family.scores["peak_z"][unit] - 4.0) / 4.0, abs=1e-3)
    counts = threshold_counts(family)
    assert counts["members"]["pass"] == len(family)
    from neuronscope.tuning.units import dataset_stats

    stats = dataset_stats(model, "0", None, images)
    for name, lifted in LIFTED.items():
        more = find_family(model, "0", "curve", stats=stats, input_size=64, step_deg=10, **{name: lifted})
        assert len(more) - len(family) == counts[name]["kept_out_only_by_this"], name
        assert counts[name]["pass"] >= len(family)


def test_combing_index_of_the_planted_family_against_a_direct_convolution(scan, tmp_path):
    """The planted layer is one convolution, so a combing index can be computed by hand: render each
    stimulus on the whole input, convolve with the planted kernel, read the central position,
    subtract the plain curve's value and divide by the unit's dataset SD (same photographs)."""
    import torch.nn.functional as F

    from neuronscope.applications.combing import LENGTHS, MODES, SPACINGS, combed, mode_flags
    from neuronscope.tuning.sweeps import STYLE
    from neuronscope.tuning.units import dataset_stats

    model, images, result = scan
    entry = result.summary()["models"][0]["curve"]["combing"]
    field = model.receptive_field("0", 64)
    side = field.size[0]
    assert side == 31 and entry["lengths_px"] == pytest.approx([f * side for f in LENGTHS])
    assert entry["spacings_px"] == pytest.approx([f * side for f in SPACINGS])
    assert [u["unit"] for u in entry["units"]] == list(range(len(ARCS)))
    std = np.asarray(dataset_stats(model, "0", None, images).std, float)
    y, x = field.central_position()
    weight = model.net[0].weight.detach().double()

    def value(unit, theta, radius, mode, length, spacing):
        image = combed(theta, radius, **mode_flags(mode), stroke_length=length, spacing=spacing,
                       arc_length=0.5 * side, size=64, center=field.center(y, x), **STYLE).double()
        return float(F.conv2d(image, weight[unit:unit + 1], padding=weight.shape[-1] // 2)[0, 0, y, x])

    medians = {m: [] for m in MODES}
    combing = result.scans[0].combing  # the stimuli's parameters: each member's orientation and radius, unrounded
    for u, theta, radius in zip(entry["units"], combing.orientations, combing.radii):
        plain = value(u["unit"], theta, radius, "plain", entry["lengths_px"][0], entry["spacings_px"][0])
        for mode in MODES:
            delta = [value(u["unit"], theta, radius, mode, ln, sp) - plain
                     for ln in entry["lengths_px"] for sp in entry["spacings_px"]]
            expected = np.mean(delta) / std[u["unit"]]
            assert u["index"][mode] == pytest.approx(expected, abs=2e-3), (u["unit"], mode)
            medians[mode].append(expected)
    for mode in MODES:
        assert entry["median_index"][mode] == pytest.approx(np.median(medians[mode]), abs=2e-3)
    result.save(tmp_path)
    row = (tmp_path / "universality.md").read_text().splitlines()[2].split(" | ")
    assert row[6] == f"{entry['median_index']['both']:+.2f} / {entry['median_index']['parallel']:+.2f}"
