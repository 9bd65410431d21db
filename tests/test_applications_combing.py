"""Combing stimuli differ from the plain curve only by their strokes; the feature-visualisation
measure reads concentric and radial patterns correctly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuronscope.applications.combing import MODES, combed, mode_flags, perpendicular_share
from neuronscope.errors import NeuronscopeError
from neuronscope.stimuli import curves

SIZE, THETA, WIDTH, LENGTH, SPACING, ARC = 96, 60.0, 3.0, 8.0, 9.0, 60.0


def _segments(radius: float, mode: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The strokes' centre-line segments (start, end) in (row, col), computed here independently."""
    c = np.array([(SIZE - 1) / 2, (SIZE - 1) / 2])
    t = math.radians(THETA)
    normal, tangent = np.array([-math.sin(t), math.cos(t)]), np.array([-math.cos(t), -math.sin(t)])
    out = []
    for j in range(-10, 11):
        s = j * SPACING
        if abs(s) > ARC / 2 + 1e-9:
            continue
        if math.isinf(radius):
            p, n, tg = c + s * tangent, normal, tangent
        else:
            a = s / radius
            centre = c - radius * normal
            n = normal * math.cos(a) + tangent * math.sin(a)
            tg = -normal * math.sin(a) + tangent * math.cos(a)
            p = centre + radius * n
        if mode in ("outward", "both"):
            out.append((p, p + LENGTH * n))
        if mode in ("inward", "both"):
            out.append((p, p - LENGTH * n))
        if mode == "parallel":
            mid = p + (LENGTH / 2 + WIDTH) * n
            out.append((mid - LENGTH / 2 * tg, mid + LENGTH / 2 * tg))
    return out


def _distance(segments) -> np.ndarray:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    q = np.stack([rows, cols], -1)
    best = np.full((SIZE, SIZE), np.inf)
    for a, b in segments:
        ab = b - a
        t = np.clip(((q - a) @ ab) / (ab @ ab), 0, 1)
        best = np.minimum(best, np.linalg.norm(q - (a + t[..., None] * ab), axis=-1))
    return best


@pytest.mark.parametrize("radius", [20.0, 45.0, math.inf])
def test_combed_stimuli_differ_from_the_plain_curve_only_by_the_strokes(radius):
    kw = dict(arc_length=ARC, size=SIZE, stroke_width=WIDTH)
    plain = combed(THETA, radius, stroke_length=LENGTH, spacing=SPACING, **kw)
    assert torch.equal(plain, curves(THETA, radius, **kw))            # no strokes: exactly the curve
    for mode in MODES:
        image = combed(THETA, radius, **mode_flags(mode), stroke_length=LENGTH, spacing=SPACING, **kw)[0, 0].numpy()
        diff = plain[0, 0].numpy() - image                              # ink added (black on white)
        assert diff.min() >= 0                                          # strokes only ever add ink
        segs = _segments(radius, mode)
        d = _distance(segs)
        assert np.all(diff[d > WIDTH / 2 + 1] == 0), mode               # nothing changes away from the strokes
        tips = [(b if mode != "parallel" else (a + b) / 2) for a, b in segs]
        for tip in tips:                                                # and every stroke is drawn
            r, c = np.rint(tip).astype(int)
            if 0 <= r < SIZE and 0 <= c < SIZE and mode != "both":
                assert image[r, c] < 0.35, (mode, tip)
        assert diff.sum() > 0.5 * len(segs) * LENGTH * WIDTH


def test_mode_flags_and_bad_arguments():
    assert mode_flags("both") == {"inward": 1.0, "outward": 1.0, "parallel": 0.0}
    with pytest.raises(NeuronscopeError):
        mode_flags("sideways")
    with pytest.raises(NeuronscopeError):
        combed(0.0, 10.0, 1.0, spacing=0.0)


def test_perpendicular_share_of_concentric_and_radial_patterns():
    n = 129
    rows, cols = np.mgrid[0:n, 0:n].astype(np.float64)
    centre = (64.0, 64.0)
    radius = 30.0
    # the curve has normal 90 (up): its centre of curvature lies 30 px below the midpoint
    cr, cc = centre[0] + radius, centre[1]
    r = np.hypot(rows - cr, cols - cc)
    phi = np.arctan2(rows - cr, cols - cc)
    concentric = 0.5 + 0.5 * np.cos(2 * np.pi * r / 6)
    radial = 0.5 + 0.5 * np.cos(40 * phi)
    share_c = perpendicular_share(np.stack([concentric] * 3), centre, 90.0, radius, 12.0)
    share_r = perpendicular_share(np.stack([radial] * 3), centre, 90.0, radius, 12.0)
    assert share_c < 0.02 and share_r > 0.98
    lines = 0.5 + 0.5 * np.cos(2 * np.pi * cols / 6)                  # vertical stripes: across a horizontal line
    assert perpendicular_share(np.stack([lines] * 3), centre, 90.0, math.inf, 12.0) > 0.98


def test_combing_figure_and_extraction_panel_content():
    from neuronscope.applications.combing import Combing
    from neuronscope.applications.figures import combing_figure, extraction_panel

    delta = np.zeros((3, len(MODES), 2, 2))
    delta[1, MODES.index("both")] = -2.0                  # unit 1 dislikes combing, by 2 SDs
    delta[2, MODES.index("outward")] = 1.0
    result = Combing("m", "layerx", "curve", [4, 9, 13], [10.0, 100.0, 200.0], [20.0, 30.0, math.inf], [4.0, 8.0],
                     [5.0, 10.0], np.array([5.0, 6.0, 7.0]), delta, "SDs", 80.0)
    assert result.index[1, MODES.index("both")] == -2.0 and result.index[2, MODES.index("outward")] == 1.0
    doc = result.to_dict()
    assert doc["units"][2]["radius_px"] is None and doc["units"][1]["index"]["both"] == -2.0
    fig = combing_figure([result])
    heat = fig.axes[0]
    image = heat.images[0]
    assert image.get_clim() == (-2.0, 2.0)                # symmetric about zero, scaled to the largest index
    assert np.array_equal(image.get_array(), result.index.T)
    assert [t.get_text() for t in heat.get_yticklabels()] == list(MODES)
    assert "layerx" in heat.get_title()
    assert sorted(ax.get_title() for ax in fig.axes[2:]) == sorted(["plain", *MODES])   # the example stimuli

    img = np.zeros((3, 10, 12))
    curve_map = np.zeros((10, 12))
    curve_map[5, 3:9] = 1.0
    edges = np.zeros((10, 12), bool)
    edges[2, 2] = True
    panel = extraction_panel(img, curve_map, edges, gap=4)
    assert panel.shape == (10, 3 * 12 + 8, 3)
    assert (panel[5, 16 + 3:16 + 9] == 0).all() and (panel[0, 16:28] == 255).all()   # map drawn dark on white
    assert panel[2, 32 + 2].max() == 0 and panel[2, 32 + 3].min() == 255            # Canny's edge pixel
