"""The differentiable stroke renderer against analytic cases, and its gradients against finite
differences."""

import math

import numpy as np
import pytest
import torch

from neuronscope.applications import splines as S
from neuronscope.errors import NeuronscopeError


def _one(points, width, opacity=1.0, size=(40, 60), softness=0.5, dtype=torch.float64):
    p = torch.tensor(points, dtype=dtype).view(1, 1, -1, 2)
    return S.coverage(p, torch.tensor([[width]], dtype=dtype), torch.tensor([[opacity]], dtype=dtype), size,
                      softness=softness)[0, 0]


def test_straight_segment_profile_and_total_coverage_are_the_capsule_integrals():
    r, s, length = 3.0, 0.5, 30.0
    cov = _one([[12.3, 20.0], [12.3 + length, 20.0]], 2 * r, softness=s)
    # across the middle the profile is exactly sigmoid((r - |d|) / s)
    d = torch.arange(40, dtype=torch.float64) - 20.0
    assert torch.allclose(cov[:, 27], torch.sigmoid((r - d.abs()) / s), atol=1e-5)  # tail cut below 6e-6
    # total = body (2 L (r + s ln(1 + e^{-r/s}))) + the two half-disc caps (pi r^2 + pi^3 s^2 / 3)
    expected = 2 * length * (r + s * math.log1p(math.exp(-r / s))) + math.pi * r ** 2 + math.pi ** 3 * s ** 2 / 3
    assert cov.sum().item() == pytest.approx(expected, rel=5e-3)
    # an oblique segment covers the same area
    angle = math.radians(33)
    a = np.array([15.0, 10.0])
    b = a + length * np.array([math.cos(angle), math.sin(angle)])
    assert _one([a.tolist(), b.tolist()], 2 * r, softness=s).sum().item() == pytest.approx(expected, rel=5e-3)
    # opacity scales coverage
    assert torch.allclose(_one([[12.3, 20.0], [42.3, 20.0]], 2 * r, 0.4, softness=s), 0.4 * cov)


def test_spline_passes_through_its_points_and_collinear_points_give_a_straight_line():
    pts = torch.tensor([[0.0, 0.0], [10.0, 5.0], [20.0, 0.0], [25.0, 10.0]], dtype=torch.float64)
    poly = S.polyline(pts, samples_per_span=8)
    assert poly.shape == (3 * 8 + 1, 2)
    assert torch.allclose(poly[::8], pts)  # interpolating
    straight = torch.tensor([[1.0, 2.0], [4.0, 6.0], [7.0, 10.0], [10.0, 14.0]], dtype=torch.float64)
    line = S.polyline(straight)
    assert S.polyline_length(line).item() == pytest.approx(15.0, abs=1e-9)
    cross = (line[:, 0] - 1) * 4 - (line[:, 1] - 2) * 3  # zero on the line through the points
    assert cross.abs().max().item() < 1e-9


def test_circle_length():
    angles = torch.linspace(0, 2 * math.pi, 25, dtype=torch.float64)
    pts = 20 * torch.stack([angles.cos(), angles.sin()], dim=-1)
    length = S.polyline_length(S.polyline(pts, 16)).item()
    assert length == pytest.approx(2 * math.pi * 20, rel=2e-3)  # reflected ends bend the first/last span a little


def test_gradients_match_finite_differences():
    g = torch.Generator().manual_seed(0)
    size = (11, 13)
    points = (torch.rand(2, 2, 3, 2, generator=g, dtype=torch.float64) * torch.tensor([12.0, 10.0],
                                                                                        dtype=torch.float64))
    widths = 1.5 + torch.rand(2, 2, generator=g, dtype=torch.float64) * 2
    opacities = 0.3 + 0.6 * torch.rand(2, 2, generator=g, dtype=torch.float64)
    weights = torch.randn(2, *size, generator=g, dtype=torch.float64)

    def f(p, w, o):
        return (S.union(S.coverage(p, w, o, size, softness=0.7)) * weights).sum()

    inputs = tuple(t.clone().requires_grad_(True) for t in (points, widths, opacities))
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    grads = torch.autograd.grad(f(*inputs), inputs)
    assert all((gr.abs() > 0).all() for gr in grads)  # every parameter of every stroke gets a gradient


def test_union_and_composite():
    cov = torch.tensor([[[[0.5]], [[0.5]]]])
    assert S.union(cov).item() == pytest.approx(0.75)
    image = S.composite(cov, torch.zeros(1, 2, 3), torch.ones(3))
    assert torch.allclose(image, torch.full((1, 3, 1, 1), 0.25))


def test_stroke_image_is_a_seeded_parameterisation():
    a = S.StrokeImage((24, 32), seeds=[0, 1], n_strokes=3)
    b = S.StrokeImage((24, 32), seeds=[1], n_strokes=3)
    img = a()
    assert img.shape == (2, 3, 24, 32) and 0 <= img.min() and img.max() <= 1
    assert torch.allclose(a.points[1], b.points[0])  # image i depends only on its own seed
    assert img.min() < 0.5 and img.amax(dim=(1, 2, 3)).min() > 0.99  # ink drawn on a white background
    loss = img.mean()
    loss.backward()
    assert a.points.grad.abs().sum() > 0 and a.width_raw.grad.abs().sum() > 0


def test_stroke_image_in_the_optvis_render_loop(effnet):
    from neuronscope.optvis import visualize

    param = S.StrokeImage(48, seeds=[0], n_strokes=2)
    before = param().detach().clone()
    images = visualize(effnet, "block3_expand:5", steps=3, size=48, param=param, progress=False)
    assert images.shape == (1, 3, 48, 48)
    assert (images - before).abs().max() > 1e-3  # the strokes moved
    assert param.points.grad is not None and param.points.grad.abs().sum() > 0


def test_bad_shapes_are_refused():
    with pytest.raises(NeuronscopeError):
        S.polyline(torch.zeros(1, 2))
    with pytest.raises(NeuronscopeError):
        S.coverage(torch.zeros(1, 2, 3, 2), torch.ones(1, 3), torch.ones(1, 2), 8)


# -- tracing -----------------------------------------------------------------------------------

def _arc(size=96, width=3.0):
    from neuronscope.applications import trace as T

    ang = np.linspace(0.3, 2.6, 60)
    pts = np.stack([48 + 30 * np.cos(ang), 64 - 30 * np.sin(ang)], axis=1)  # a "∩" arc, radius 30
    ctrl = torch.tensor(T.resample(pts, 12))[None, None].float()
    cov = S.coverage(ctrl, torch.tensor([[width]]), torch.tensor([[1.0]]), (size, size))[0, 0]
    return T.Spline(T.resample(pts, 12)), cov.numpy()


def _distances(traced, true, n=400):
    from scipy.spatial import cKDTree

    d_to_true, _ = cKDTree(true.sample(2000)).query(traced.sample(n))
    d_to_traced, _ = cKDTree(traced.sample(2000)).query(true.sample(n))
    return d_to_true.mean(), (d_to_traced < 2.0).mean()


def test_trace_map_recovers_a_clean_curve():
    from neuronscope.applications import trace as T

    true, target = _arc()
    splines = T.trace_map(target, n_curves=3, steps=100, sigma=0)
    assert len(splines) == 1  # one curve in the map: one spline, however many were allowed
    learnt = T.trace_map(target, n_curves=1, steps=100, sigma=0, width=None)[0]
    assert learnt.width == pytest.approx(3.0, abs=0.6)  # a learnt width finds the drawn one
    mean_distance, covered = _distances(splines[0], true)
    assert mean_distance < 0.5 and covered > 0.97  # measured 0.08 px and 1.0
    assert splines[0].width == 3.0  # fixed by default
    assert splines[0].length == pytest.approx(30 * 2.3, rel=0.05)


def test_occlusion_rule_keeps_splines_out_of_the_occluder():
    from neuronscope.applications import trace as T

    true, target = _arc()
    pts = true.sample(400)
    occluder = np.zeros_like(target)
    occluder[:, 40:57] = 1.0  # a band across the arc's top
    inside = (pts[:, 0] >= 40) & (pts[:, 0] < 57)

    def share_inside(splines):
        xs = np.concatenate([s.sample(400)[:, 0] for s in splines])
        return ((xs >= 40) & (xs < 57)).mean()

    free = T.trace_map(target, n_curves=3, steps=100, sigma=0)
    ruled = T.trace_map(target, n_curves=3, steps=100, occluder=occluder, sigma=0)
    assert share_inside(free) == pytest.approx(inside.mean(), abs=0.05)  # without the rule it runs through
    assert len(ruled) == 2 and share_inside(ruled) < 0.02  # with it: two pieces, stopping at the occluder


def test_spline_sampling_svg_and_saved_files(tmp_path):
    import json

    from PIL import Image

    from neuronscope.applications import trace as T

    s = T.Spline([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]], width=3.0)
    pts = s.sample(5)
    assert np.allclose(pts, [[0, 0], [5, 0], [10, 0], [15, 0], [20, 0]], atol=1e-9)
    assert s.svg_path() == ("M 0.00 0.00 C 3.33 0.00 6.67 0.00 10.00 0.00 "
                            "C 13.33 0.00 16.67 0.00 20.00 0.00")
    image = torch.full((3, 24, 30), 0.5)
    diag = T.Spline([[2.0, 2.0], [14.0, 12.0], [27.0, 21.0]], width=3.0)
    files = T.save_tracing([diag], image, tmp_path)
    data = json.loads(files[0].read_text())
    assert np.allclose(data["splines"][0]["control_points"], diag.control_points)
    assert files[1].read_text().count("<path ") == 1
    png = np.asarray(Image.open(files[2])).astype(float) / 255
    on = np.rint(diag.sample(20)).astype(int)
    red = png[on[:, 1], on[:, 0]]
    assert (red[:, 0] > 0.8).all() and (red[:, 2] < 0.4).all()  # the first spline is drawn red on grey
    assert np.allclose(png[20, 3], 0.5, atol=0.01)  # away from it, the image (mid grey) is unchanged
    fig = T.plot_tracing(image, [diag], target=torch.rand(24, 30))
    assert [ax.get_title() for ax in fig.axes] == ["image", "curve map (target)", "1 spline(s)"]
    drawn = fig.axes[2].get_images()[0].get_array()
    assert np.allclose(drawn[on[:, 1], on[:, 0]], png[on[:, 1], on[:, 0]], atol=0.01)  # the same overlay


def test_tracing_refuses_an_empty_map():
    from neuronscope.applications import trace as T

    with pytest.raises(NeuronscopeError, match="zero everywhere"):
        T.trace_map(np.zeros((32, 32)))


# -- with the model: the curve map of a clean curve, the command line ------------------------------

def _clean_curve(size=112, seed=2):
    from neuronscope.applications.curves import curve_image

    item = curve_image(seed, size=size, background="noise", curves=(1, 1), widths=(2.5,))
    return item, [item.paths[0][:, ::-1]]  # (row, col) -> (x, y)


def test_trace_curves_recovers_a_single_clean_curve(effnet):
    from neuronscope.applications import trace as T

    item, truth = _clean_curve()
    splines = T.trace_curves(effnet, item.image, n_curves=1)
    score = T.score_tracing(splines, truth)
    # stated distance: on average within 1 px of the true centre line, covering 90% of it within
    # 3 px (measured 0.4 px and 1.0; over 8 such images the median is 0.5 px, see the README)
    assert score["distance"] < 1.0 and score["covered"][0] > 0.9, score


def test_trace_and_find_commands(effnet, tmp_path, capsys):
    import json

    from PIL import Image

    from neuronscope.applications.extract import family_of
    from neuronscope.cli import main

    item, truth = _clean_curve()
    path = tmp_path / "curve.png"
    Image.fromarray((item.image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)
    units = ",".join(str(m.unit) for m in family_of(effnet).members)  # skip the family search in the command
    assert main(["trace", "efficientnet_lite0", str(path), "--out", str(tmp_path / "t"), "--curves", "2",
                 "--units", units]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("splines=") and int(out[-1].split("=")[1]) >= 1
    data = json.loads((tmp_path / "t" / "splines.json").read_text())
    from neuronscope.applications.trace import Spline, score_tracing

    best = Spline(data["splines"][0]["control_points"])
    assert score_tracing([best], truth)["distance"] < 2.0  # the 8-bit PNG changes the map a little
    assert (tmp_path / "t" / "splines.svg").read_text().count("<path ") == len(data["splines"])

    other = tmp_path / "other.png"
    Image.fromarray((np.random.default_rng(0).random((80, 96, 3)) * 255).astype(np.uint8)).save(other)
    assert main(["factorize", "efficientnet_lite0", "block5_expand", str(path), str(other), "--k", "2", "--size",
                 "64", "--out", str(tmp_path / "f"), "--save-groups", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("k=2 error=") and 0 < float(out[-1].split("error=")[1]) < 1
    assert (tmp_path / "f" / "factors.png").is_file() and (tmp_path / "f" / "other_nmf.png").is_file()
    assert main(["find", "efficientnet_lite0", "--groups", str(tmp_path / "g.json"), str(path), "--group", "1",
                 "--size", "64", "--out", str(tmp_path / "n")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    shares = dict(kv.split("=") for kv in lines[0].split()[1:])
    assert set(shares) == {"group0", "group1"} and abs(sum(map(float, shares.values())) - 1) < 0.02
    assert (tmp_path / "n" / "curve_find.png").is_file() and (tmp_path / "n" / "curve_group1.png").is_file()
    attribution = np.asarray(Image.open(tmp_path / "n" / "curve_group1_attribution.png"))
    assert attribution.shape == (64, 64, 3) and attribution.max() == 255  # scaled to max 1
    assert main(["find", "efficientnet_lite0", "--groups", str(tmp_path / "g.json"), str(path), "--trace",
                 "--out", str(tmp_path / "n")]) == 2
    assert capsys.readouterr().err.startswith("error: --trace needs --group")
