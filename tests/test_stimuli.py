"""Synthetic stimuli: checked against analytic geometry (areas, centroids, symmetry) and
independent numpy renders of the same shapes."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.cli import main
from neuronscope.errors import NeuronscopeError
from neuronscope.stimuli import (angle_arc, angle_to_curve, angles, curves, hues, lines, random_color_pairs,
                                 save_grid, sweep, tile)
from neuronscope.stimuli import render as render_module

INK = dict(foreground=(1.0, 1.0, 1.0), background=(0.0, 0.0, 0.0))  # channel 0 is then the ink coverage


def coverage(images):
    return images[:, 0].double().numpy()


def plane(size, center=None):
    """Pixel-centre coordinates (x right, y up) relative to ``center`` (default image centre)."""
    h, w = size
    cy, cx = center if center is not None else ((h - 1) / 2, (w - 1) / 2)
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float64)
    return cols - cx, cy - rows


def filtered_band(d, width):
    """Stroke of ``width`` at distance d, seen through a tent filter of support [-1, 1]
    (one pixel at half maximum), by midpoint quadrature (error < 1e-4)."""
    t = np.linspace(-1, 1, 20001)[:-1] + 1e-4 / 2
    weight = (1 - np.abs(t)) * 1e-4
    d = np.asarray(d, dtype=np.float64)
    out = np.zeros_like(d)
    near = d < width / 2 + 1
    out[near] = ((np.abs(d[near][:, None] + t) <= width / 2) * weight).sum(-1)
    return out


def segment_dist(x, y, a, b):
    ab = np.subtract(b, a)
    t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / (ab @ ab), 0, 1)
    return np.hypot(x - a[0] - t * ab[0], y - a[1] - t * ab[1])


def unit(deg):
    r = math.radians(deg)
    return np.array([math.cos(r), math.sin(r)])


def test_shape_dtype_range_and_background():
    size = (40, 56)
    for images in (curves([0, 90, 200], [10, math.inf, 30], size=size, arc_length=20),
                   angles([0, 90, 200], 90, size=size, arm_length=10),
                   angle_to_curve([0, 90, 200], [0, 0.5, 1], size=size, arm_length=10),
                   lines([0, 45, 90], size=size)):
        assert images.shape == (3, 3, 40, 56) and images.dtype == torch.float32
        assert images.min() == 0 and images.max() == 1  # black ink fully covers its core
        assert torch.all(images[:, :, 0, 0] == 1)  # white background in the corner


@pytest.mark.parametrize("radius", [12.0, 25.0])
def test_curve_orientation_points_from_centre_of_curvature_to_ink(radius):
    size, length, width = (96, 96), 40.0, 2.0
    thetas = np.arange(0, 360, 15.0)
    alpha = coverage(curves(thetas, radius, size=size, arc_length=length, stroke_width=width, **INK))
    x, y = plane(size)
    half = length / (2 * radius)
    for a, theta in zip(alpha, thetas):
        n = unit(theta)
        cx, cy = (a * x).sum() / a.sum(), (a * y).sum() / a.sum()
        # The ink's centroid lies on the normal, towards the centre of curvature, at the
        # thin-arc distance R - R sin(b)/b from the midpoint.
        expected = -(radius - radius * math.sin(half) / half) * n
        assert np.hypot(cx - expected[0], cy - expected[1]) < 0.05 * np.hypot(*expected) + 0.2
        # The centre of curvature is opposite the normal: ink sits on the circle around it.
        c = -radius * n
        mean_r = (a * np.hypot(x - c[0], y - c[1])).sum() / a.sum()
        assert abs(mean_r - radius) < 0.2


def test_cap_arc_orientation_90_opens_downwards():
    size, radius, width = (64, 64), 15.0, 2.0
    alpha = coverage(curves(90, radius, size=size, arc_length=40, stroke_width=width, **INK))[0]
    rows_with_ink = np.nonzero(alpha.sum(axis=1) > 0)[0]
    cy = (size[0] - 1) / 2
    assert rows_with_ink.min() >= cy - width / 2 - 1  # nothing above the arc's midpoint
    assert rows_with_ink.max() > cy + 5  # the ends hang below it
    col = (size[1] - 1) / 2
    assert alpha[int(cy - 0.5), int(col)] > 0.4 and alpha[int(cy + radius), int(col)] == 0


@pytest.mark.parametrize("side", [63, 64])
def test_rotation_by_90_degrees_is_rot90(side):
    thetas = torch.tensor([0.0, 17.0, 90.0, 133.0, 250.0])
    cases = [
        lambda t: curves(t, 14.0, size=side, arc_length=50),
        lambda t: curves(t, math.inf, size=side, arc_length=30, stroke_width=3.0),
        lambda t: curves(t, 9.0, size=side, arc_length=30, filled=True),
        lambda t: angles(t, 70.0, size=side, arm_length=20),
        lambda t: angle_to_curve(t, 0.4, size=side, arm_length=20),
        lambda t: lines(t, 6.0, size=side),
    ]
    for draw in cases:
        rotated = torch.rot90(draw(thetas), k=1, dims=(-2, -1))  # counter-clockwise on screen
        torch.testing.assert_close(draw(thetas + 90), rotated, atol=2e-4, rtol=0)


def test_infinite_radius_is_the_straight_segment_along_the_tangent():
    size, length, width = (72, 80), 44.0, 2.5
    center = (30.0, 41.5)
    thetas = [0.0, 30.0, 90.0, 211.0]
    alpha = coverage(curves(thetas, math.inf, size=size, center=center, arc_length=length, stroke_width=width,
                            **INK))
    x, y = plane(size, center)
    for a, theta in zip(alpha, thetas):
        tangent = unit(theta + 90) * length / 2
        expected = filtered_band(segment_dist(x, y, -tangent, tangent), width)
        np.testing.assert_allclose(a, expected, atol=3e-4)
    huge = coverage(curves(thetas, 1e7, size=size, center=center, arc_length=length, stroke_width=width, **INK))
    np.testing.assert_allclose(huge, alpha, atol=1e-3)


@pytest.mark.parametrize("radius, length, width, tol", [
    (10.0, 50.0, 3.0, 0.01), (25.0, 50.0, 3.0, 0.01), (60.0, 70.0, 2.0, 0.015), (math.inf, 60.0, 2.0, 0.015),
    (math.inf, 60.0, 1.0, 0.02), (30.0, 60.0, 0.5, 0.03)])
def test_stroke_area_is_length_times_width_plus_round_caps(radius, length, width, tol):
    # Orientations include axis-aligned and diagonal strokes, the extremes of pixel aliasing.
    alpha = coverage(curves([0.0, 37.0, 45.0, 90.0], radius, size=96, arc_length=length, stroke_width=width, **INK))
    expected = length * width + math.pi * width ** 2 / 4
    np.testing.assert_allclose(alpha.sum(axis=(1, 2)), expected, rtol=tol)


@pytest.mark.parametrize("radius", [9.0, 0.8])
def test_arc_longer_than_its_circle_is_the_full_ring(radius):
    width = 3.0
    # An odd size puts pixel centres on the mirror axis, where the arc's two ends meet.
    alpha = coverage(curves(0.0, radius, size=65, arc_length=200, stroke_width=width, **INK))[0]
    x, y = plane((65, 65))
    ring = np.abs(np.hypot(x + radius, y) - radius)  # centre of curvature left of the midpoint
    np.testing.assert_allclose(alpha, filtered_band(ring, width), atol=3e-4)
    if radius > width / 2:
        assert alpha.sum() == pytest.approx(2 * math.pi * radius * width, rel=0.01)


def test_lines_are_periodic_in_180_degrees_and_lie_on_their_normal_equation():
    size, width = (50, 70), 3.0
    thetas = torch.tensor([0.0, 25.0, 90.0, 160.0])
    for offset in (0.0, 7.5):
        base = lines(thetas, offset, size=size, stroke_width=width)
        for turn in (180.0, -180.0, 360.0):
            flip = -1 if turn % 360 else 1  # the offset runs along the normal, which turns too
            torch.testing.assert_close(lines(thetas + turn, flip * offset, size=size, stroke_width=width), base,
                                       atol=2e-4, rtol=0)
        alpha = coverage(lines(thetas, offset, size=size, stroke_width=width, **INK))
        x, y = plane(size)
        for a, theta in zip(alpha, thetas.tolist()):
            d = np.abs(x * math.cos(math.radians(theta)) + y * math.sin(math.radians(theta)) - offset)
            assert np.all(a[d < width / 2 - 1.05] == 1) and np.all(a[d > width / 2 + 1.05] == 0)
    # Orientation 90 is a horizontal line; a positive offset moves it up (to a smaller row).
    horizontal = coverage(lines(90.0, 5.0, size=21, stroke_width=1.0, **INK))[0]
    profile = horizontal.sum(axis=1) / 21  # ink per row, constant along each row
    assert profile.argmax() == 5 and profile[4] == pytest.approx(profile[6]) and profile[4] < profile[5]
    assert profile.sum() == pytest.approx(1.0) and profile[4:7].sum() == pytest.approx(1.0)


def test_short_line_is_a_segment_through_the_offset_point():
    size, width, length = (60, 60), 2.0, 24.0
    alpha = coverage(lines(30.0, 8.0, length=length, size=size, stroke_width=width, **INK))[0]
    x, y = plane(size)
    foot, tangent = 8.0 * unit(30.0), unit(120.0) * length / 2
    np.testing.assert_allclose(alpha, filtered_band(segment_dist(x, y, foot - tangent, foot + tangent), width),
                               atol=3e-4)


@pytest.mark.parametrize("radius, length", [(20.0, 50.0), (12.0, 60.0), (8.0, 100.0)])
def test_filled_curve_fills_the_circular_segment_on_the_inner_side(radius, length):
    size, width, theta = (72, 72), 2.0, 120.0
    n = unit(theta)
    filled = coverage(curves(theta, radius, size=size, arc_length=length, stroke_width=width, filled=True, **INK))[0]
    stroke = coverage(curves(theta, radius, size=size, arc_length=length, stroke_width=width, **INK))[0]
    fill_only = coverage(curves(theta, radius, size=size, arc_length=length, stroke_width=0.0, filled=True,
                                **INK))[0]
    x, y = plane(size)
    r = np.hypot(x + radius * n[0], y + radius * n[1])  # distance to the centre of curvature
    v = x * n[0] + y * n[1]  # height along the normal; the arc's midpoint is at v = 0
    b = min(length / (2 * radius), math.pi)
    chord = radius * math.cos(b) - radius
    assert np.all(filled >= stroke)
    added = filled > stroke + 1e-6
    assert np.all(r[added] <= radius + 1.05) and np.all(v[added] >= chord - 1.05)
    assert np.all(filled[(r < radius - 1.05) & (v > chord + 1.05)] == 1)
    assert np.all(filled[(r > radius + width / 2 + 1.05) | (v < chord - width / 2 - 1.05)] == 0)
    segment_area = radius ** 2 * (2 * b - math.sin(2 * b)) / 2
    assert fill_only.sum() == pytest.approx(segment_area, rel=0.02)


def test_filled_straight_segment_adds_nothing():
    kw = dict(size=48, arc_length=30, stroke_width=2.0)
    torch.testing.assert_close(curves([10.0, 100.0], math.inf, filled=True, **kw),
                               curves([10.0, 100.0], math.inf, **kw))


def test_angles_are_two_strokes_from_the_vertex_at_the_center():
    size, width, arm = (70, 64), 2.0, 22.0
    center = (36.0, 30.5)
    thetas, openings = sweep([0.0, 90.0, 205.0], [30.0, 90.0, 150.0, 180.0])
    alpha = coverage(angles(thetas, openings, arm_length=arm, size=size, center=center, stroke_width=width, **INK))
    x, y = plane(size, center)
    for a, theta, opening in zip(alpha, thetas.tolist(), openings.tolist()):
        ends = [arm * unit(theta + 180 + s * opening / 2) for s in (-1, 1)]  # arms open away from the normal
        d = np.minimum(segment_dist(x, y, (0, 0), ends[0]), segment_dist(x, y, (0, 0), ends[1]))
        np.testing.assert_allclose(a, filtered_band(d, width), atol=3e-4)


def test_angle_to_curve_ends_match_angle_and_tangent_arc():
    size, arm, thetas = 80, 25.0, [0.0, 90.0, 300.0]
    for opening in (60.0, 90.0, 135.0, 180.0):
        sharp = angle_to_curve(thetas, 0.0, opening_deg=opening, arm_length=arm, size=size)
        torch.testing.assert_close(sharp, angles(thetas, opening, arm_length=arm, size=size))
        # The arc tangent to both arms at their ends, computed here from the geometry.
        radius = arm * math.tan(math.radians(opening / 2))
        length = 2 * arm if opening == 180 else radius * math.radians(180 - opening)
        round_ = angle_to_curve(thetas, 1.0, opening_deg=opening, arm_length=arm, size=size)
        arc = curves(thetas, math.inf if opening == 180 else radius, arc_length=length, size=size)
        torch.testing.assert_close(round_, arc, atol=2e-3, rtol=0)
    r, L = angle_arc([90.0, 180.0], 10.0)
    np.testing.assert_allclose(r.numpy(), [10.0, math.inf])
    np.testing.assert_allclose(L.numpy(), [5 * math.pi, 20.0])


def test_angle_to_curve_is_continuous_and_keeps_its_extent():
    size, arm, theta = (64, 64), 24.0, 90.0
    rho = torch.linspace(0, 1, 81)
    alpha = coverage(angle_to_curve(theta, rho, opening_deg=90.0, arm_length=arm, size=size, **INK))
    assert np.abs(np.diff(alpha, axis=0)).max() < 0.3  # each step moves the stroke by < 0.2 px
    assert np.abs(alpha[0] - alpha[-1]).max() == 1
    x, _ = plane(size)
    half_width = [np.abs(x[a > 0.5]).max() for a in alpha]  # horizontal extent of the "∧" to "∩" morph
    np.testing.assert_allclose(half_width, arm * math.cos(math.radians(45)), atol=1.0)


def test_batch_equals_individual_renders_and_is_deterministic(monkeypatch):
    params = dict(orientation_deg=[0.0, 33.0, 90.0, 181.0, 270.0], radius=[8.0, math.inf, 20.0, 15.0, 40.0])
    style = dict(size=(40, 48), arc_length=[30.0, 20.0, 40.0, 25.0, 35.0], stroke_width=[1.0, 2.0, 3.0, 2.0, 0.7],
                 center=[[20.0, 24.0], [18.0, 30.0], [19.5, 23.5], [25.0, 20.0], [20.0, 24.0]],
                 foreground=["red", "black", "#00ff00", "blue", "white"],
                 background=[[1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.2, 0.0, 0.4]])
    batch = curves(filled=True, **params, **style)
    torch.testing.assert_close(curves(filled=True, **params, **style), batch, atol=0, rtol=0)
    monkeypatch.setattr(render_module, "_CHUNK_PIXELS", 2 * 40 * 48)  # render in chunks of two
    torch.testing.assert_close(curves(filled=True, **params, **style), batch, atol=0, rtol=0)
    for i in range(5):
        one = {k: v[i] for k, v in params.items()}
        one_style = {k: (v[i] if isinstance(v, list) else v) for k, v in style.items()}
        torch.testing.assert_close(curves(filled=True, **one, **one_style)[0], batch[i], atol=1e-6, rtol=0)


def test_per_stimulus_colours():
    fg = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    images = curves([0.0, 90.0], math.inf, size=33, arc_length=20, stroke_width=5.0, foreground=fg,
                    background=["white", "#808080"])
    torch.testing.assert_close(images[:, :, 16, 16], fg)  # the stroke's core
    torch.testing.assert_close(images[:, :, 0, 0], torch.tensor([[1.0, 1.0, 1.0], [128 / 255] * 3]))


def test_colour_helpers():
    expected = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1], [1, 0, 1]]
    torch.testing.assert_close(hues(6), torch.tensor(expected, dtype=torch.float32))
    torch.testing.assert_close(hues(2, saturation=0.5, value=0.8), torch.tensor([[0.8, 0.4, 0.4], [0.4, 0.8, 0.8]]))
    fg, bg = random_color_pairs(200, seed=3, min_contrast=0.4)
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert fg.shape == bg.shape == (200, 3) and fg.min() >= 0 and fg.max() <= 1
    assert (((fg - bg) @ luma).abs() >= 0.4).all()
    again = random_color_pairs(200, seed=3, min_contrast=0.4)
    assert torch.equal(again[0], fg) and torch.equal(again[1], bg)
    assert not torch.equal(random_color_pairs(200, seed=4, min_contrast=0.4)[0], fg)


def test_sweep_is_a_flattened_grid_with_the_last_axis_fastest():
    theta, radius = sweep([0.0, 90.0], [1.0, 2.0, math.inf])
    assert theta.tolist() == [0.0, 0.0, 0.0, 90.0, 90.0, 90.0]
    assert radius.tolist() == [1.0, 2.0, math.inf, 1.0, 2.0, math.inf]


@pytest.mark.parametrize("call", [
    lambda: curves(0.0, 0.0),
    lambda: curves(0.0, -5.0),
    lambda: curves([0.0, 1.0, 2.0], [5.0, 6.0]),
    lambda: curves(0.0, 5.0, stroke_width=-1.0),
    lambda: curves(0.0, 5.0, arc_length=math.inf),
    lambda: curves(0.0, 5.0, size=0),
    lambda: curves(0.0, 5.0, size=(10, 10, 3)),
    lambda: curves(0.0, 5.0, foreground="not-a-colour"),
    lambda: curves(0.0, 5.0, background=(0.0, 2.0, 0.0)),
    lambda: curves(0.0, 5.0, center=(1.0, 2.0, 3.0)),
    lambda: curves(float("nan"), 5.0),
    lambda: lines(math.inf),
    lambda: angles(0.0, 0.0),
    lambda: angles(0.0, 200.0),
    lambda: angle_to_curve(0.0, 1.5),
    lambda: lines(0.0, math.inf),
    lambda: sweep(),
])
def test_bad_input_raises(call):
    with pytest.raises(NeuronscopeError):
        call()


def test_save_grid_places_each_image_in_its_cell(tmp_path):
    images = torch.rand(5, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    path = save_grid(images, tmp_path / "sub" / "grid.png", ncols=2, padding=2)
    grid = np.asarray(Image.open(path).convert("RGB")).astype(np.float64) / 255
    assert grid.shape == (3 * 8 + 2, 2 * 9 + 2, 3)
    for i in range(5):
        r, c = divmod(i, 2)
        cell = grid[2 + 8 * r: 8 + 8 * r, 2 + 9 * c: 9 + 9 * c]
        np.testing.assert_allclose(cell, images[i].permute(1, 2, 0).numpy(), atol=0.5 / 255 + 1e-6)
    assert np.all(grid[2 + 16:8 + 16, 2 + 9:9 + 9] == 128 / 255)  # the unused sixth cell is padding
    assert tile(images).shape == (3, 2 * 8 + 2, 3 * 9 + 2)


def test_cli_writes_the_grid(tmp_path, capsys):
    assert main(["stimuli", "curves", "--out", str(tmp_path), "--size", "32", "--orientations", "4",
                 "--radii", "8,inf", "--filled", "--foreground", "1,0,0"]) == 0
    assert Image.open(tmp_path / "curves.png").size == (4 * 34 + 2, 2 * 34 + 2)
    assert main(["stimuli", "morphs", "--out", str(tmp_path), "--size", "24", "--orientations", "2",
                 "--openings", "60,120", "--roundness", "0,0.5,1"]) == 0
    assert Image.open(tmp_path / "morphs.png").size == (3 * 26 + 2, 4 * 26 + 2)
    for kind in ("angles", "lines"):
        assert main(["stimuli", kind, "--out", str(tmp_path), "--size", "16", "--orientations", "3"]) == 0
        assert (tmp_path / f"{kind}.png").exists()


@pytest.mark.parametrize("options", [["curves", "--radii", "8,x"], ["lines", "--radii", "8"],
                                     ["curves", "--orientations", "0"], ["angles", "--openings", "0"],
                                     ["curves", "--size", "-3"], ["lines", "--foreground", "nope"]])
def test_cli_bad_options_are_one_line_errors(tmp_path, capsys, options):
    assert main(["stimuli", *options, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    theta = torch.arange(0, 360, 45.0)
    for draw in (lambda d: curves(theta.to(d), 12.0, size=48, arc_length=40, filled=True),
                 lambda d: angle_to_curve(theta.to(d), 0.5, size=48),
                 lambda d: lines(theta.to(d), 3.0, size=48)):
        gpu = draw("cuda")
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), draw("cpu"), atol=1e-4, rtol=0)
