"""neuronscope.applications: the known-curve generator, the benchmark scorer on hand-counted
cases, and extract_curves' shape, range and tiling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuronscope.applications import bench, curves
from neuronscope.applications.extract import curve_attribution, extract_curves
from neuronscope.errors import NeuronscopeError

UNITS = [36, 455, 309, 273, 95, 257, 391, 115, 453, 343, 108, 374]  # EfficientNet-Lite0 block6_expand curve units


# -- the generator ----------------------------------------------------------------------------
def test_curve_images_are_seeded_and_their_centre_lines_lie_in_the_ink():
    a, b = curves.curve_image(7, 96, "texture"), curves.curve_image(7, 96, "texture")
    assert torch.equal(a.image, b.image) and np.array_equal(a.centerline, b.centerline)
    assert not torch.equal(a.image, curves.curve_image(8, 96, "texture").image)
    for item in curves.curve_set(6, (80, 112), seed=3):
        assert item.image.shape == (3, 80, 112) and 0 <= item.image.min() and item.image.max() <= 1
        assert item.centerline.any()
        # every centre-line pixel is within half a pixel of a path point and carries ink
        pts = np.concatenate(item.paths)
        for r, c in np.argwhere(item.centerline):
            assert np.hypot(pts[:, 0] - r, pts[:, 1] - c).min() <= 0.75
        assert item.ink[item.centerline].min() > 0.5
    kinds = [it.background for it in curves.curve_set(4, 64, seed=0)]
    assert kinds == ["texture", "noise", "texture", "noise"]


def test_stroke_coverage_matches_the_stroke_width():
    pts = np.stack([np.full(400, 20.0), np.arange(400) * 0.25], 1)  # a horizontal line along row 20
    for width in (1.5, 2.5, 4.0):
        ink = curves.stroke_coverage(pts, width, (40, 120))
        assert ink[:, 30:90].sum(0) == pytest.approx(np.full(60, width), abs=1e-6)   # ink per column = width


# -- the scorer ---------------------------------------------------------------------------------
def _line(h=20, w=20, row=10, cols=range(3, 13)):
    m = np.zeros((h, w), bool)
    m[row, list(cols)] = True
    return m


def test_matching_is_one_to_one_within_the_tolerance():
    truth = _line()                                   # 10 pixels
    assert bench.match(_line(row=11), truth, 2.0) == 10          # 1 px off: all match
    assert bench.match(_line(row=13), truth, 2.0) == 0           # 3 px off: none
    double = _line(row=9) | _line(row=11)                        # two edges of a thick stroke
    assert bench.match(double, truth, 2.0) == 10                 # 20 detected, only 10 can match
    assert bench.match(_line(cols=range(3, 8)), truth, 2.0) == 5  # half the curve found
    diagonal = np.zeros((20, 20), bool)
    diagonal[[11, 12], [3, 4]] = True                            # 1 px and 2 px from the line
    assert bench.match(diagonal, truth, 2.0) == 2
    assert bench.match(diagonal, truth, 1.5) == 1


def test_ods_takes_the_best_single_threshold_over_the_summed_counts():
    truth = _line()
    strong = np.where(_line(row=11), 0.9, 0.0)                   # the curve, found strongly
    clutter = np.zeros((20, 20))
    clutter[2, 2:7] = 0.5                                         # 5 false pixels at 0.5
    counts = bench.count(strong + clutter, truth, thresholds=[0.3, 0.7])
    assert list(counts.matched) == [10, 10] and list(counts.detected) == [15, 10] and counts.truth == 10
    score = bench.ods(counts + bench.count(np.where(_line(cols=range(3, 8)), 0.6, 0.0), truth,
                                           thresholds=[0.3, 0.7]), "m")
    # at 0.3: matched 15 of 20 detected, 20 true -> P 0.75 R 0.75; at 0.7: 10/10, R 0.5 -> F 0.667
    assert score.threshold == 0.3
    assert score.precision == pytest.approx(0.75) and score.recall == pytest.approx(0.75)
    assert score.f == pytest.approx(0.75)


def test_nms_thins_a_blurred_curve_to_its_centre_line():
    yy, xx = np.mgrid[0:64, 0:64]
    r = np.hypot(yy - 32, xx - 32)
    ridge = np.exp(-((r - 20) ** 2) / (2 * 2.0 ** 2))
    thin = bench.nms(ridge) > 0.3
    assert np.abs(r[thin] - 20).max() <= 1.0
    # thinned to an 8-connected digital circle: 4 sqrt(2) r pixels
    detected = bench.count(bench.nms(ridge), thin, thresholds=[0.3]).detected[0]
    assert detected == pytest.approx(4 * np.sqrt(2) * 20, rel=0.1)
    line = bench.nms(np.exp(-((yy - 32.3) ** 2) / 8)) > 0.3            # a straight ridge: one row
    assert np.array_equal(np.flatnonzero(line.any(1)), [32])


# -- extraction ---------------------------------------------------------------------------------
def test_extract_curves_shape_range_and_odd_sizes(effnet):
    item = curves.curve_image(0, (67, 93), "noise")
    m = extract_curves(effnet, item.image, units=UNITS)
    assert m.shape == (67, 93) and float(m.min()) >= 0 and float(m.max()) == 1.0
    with pytest.raises(NeuronscopeError):
        extract_curves(effnet, item.image[:, :60], units=UNITS)
    with pytest.raises(NeuronscopeError):
        extract_curves(effnet, item.image, units=UNITS, method="nope")


def test_tiled_map_equals_the_untiled_one_without_seams(effnet):
    image = curves.curve_image(1, (150, 230), "texture").image
    whole = curve_attribution(effnet, image, units=UNITS, tile=10_000)
    tiled = curve_attribution(effnet, image, units=UNITS, tile=320)   # 6 tiles, 128 px cores
    scale = float(whole.abs().max())
    assert scale > 0
    # stated tolerance: 1e-4 of the map's maximum, everywhere (the border included)
    assert float((tiled - whole).abs().max()) <= 1e-4 * scale


def test_comb_share_tells_perpendicular_streaks_from_parallel_bands():
    h = w = 64
    pts = np.stack([np.full(340, 32.0), -10 + np.arange(340) * 0.25], 1)  # a horizontal curve along row 32
    item = curves.CurveImage(torch.zeros(3, h, w), np.zeros((h, w), bool), np.zeros((h, w)), "noise",
                             (pts,), (2.0,), (-1,), 0)
    rows, cols = np.mgrid[0:h, 0:w]
    near = (np.abs(rows - 32) > 2) & (np.abs(rows - 32) <= 7)
    comb = np.where(near & (cols % 6 < 2), 1.0, 0.0)                     # vertical teeth above and below
    bands = np.where(near & (np.abs(rows - 32) % 4 < 2), 1.0, 0.0)        # horizontal bands beside it
    perp, par = bench.comb_share(comb, item)
    assert perp > 0.7 and par < 0.2 and perp + par <= 1.0 + 1e-9
    perp, par = bench.comb_share(bands, item)
    assert par > 0.7 and perp < 0.2
    on_curve = np.where(np.abs(rows - 32) <= 1, 1.0, 0.0)                 # all mass on the curve: no combing
    assert bench.comb_share(on_curve, item) == (0.0, 0.0)


def test_extract_command_writes_maps_overlays_and_canny(effnet, tmp_path):
    from PIL import Image

    from neuronscope.cli import main

    path = tmp_path / "curvy.png"
    image = curves.curve_image(3, (72, 90), "noise").image
    Image.fromarray((image.numpy().transpose(1, 2, 0) * 255).astype(np.uint8)).save(path)
    units = ",".join(map(str, UNITS))
    assert main(["extract", "efficientnet_lite0", str(path), "--units", units, "--out", str(tmp_path / "o")]) == 0
    saved = np.asarray(Image.open(tmp_path / "o" / "curvy_map.png"), np.float64) / 65535
    assert saved.shape == (72, 90) and saved.max() == pytest.approx(1.0) and saved.min() >= 0
    panel = np.asarray(Image.open(tmp_path / "o" / "curvy_panel.png"))
    assert panel.shape == (72, 3 * 90 + 16, 3)
    assert main(["extract", "efficientnet_lite0", str(tmp_path / "missing.png"), "--out", str(tmp_path)]) == 2
    assert main(["extract", "efficientnet_lite0", "--out", str(tmp_path)]) == 2     # nothing to extract


def test_extract_bench_command_prints_the_table_and_the_summary_line(effnet, tmp_path, capsys):
    import json
    import re

    from neuronscope.cli import main

    units = ",".join(map(str, UNITS))
    args = ["extract-bench", "efficientnet_lite0", "--images", "2", "--size", "64", "--units", units,
            "--out", str(tmp_path)]
    assert main(args) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    m = re.fullmatch(r"extraction_f=([\d.]+) canny_f=([\d.]+) gradient_f=([\d.]+)", last)
    assert m, last
    scores = json.loads((tmp_path / "bench.json").read_text())["scores"]
    assert set(scores) == {"all", "texture", "noise"}
    for value, method in zip(m.groups(), ("extraction", "canny", "gradient")):
        assert float(value) == pytest.approx(scores["all"][method]["f"], abs=5e-4)
        assert 0 <= scores["all"][method]["precision"] <= 1 and 0 <= scores["all"][method]["recall"] <= 1
    assert "| texture | canny |" in (tmp_path / "bench.md").read_text()
