"""neuronscope.tuning: exact minimal inputs, dataset-SD units, stimulus placement, results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import neuronscope as ns
from neuronscope import stimuli
from neuronscope.images import standard_view
from neuronscope.errors import NeuronscopeError
from neuronscope.tuning import figures, joint, sweeps
from neuronscope.tuning.units import dataset_stats, units_of


def _check_exact(model, cases):
    """At each (layer, positions), the window's value equals the full image's bit for bit when both
    run the same kernels (channels-last, as the probe runs, with oneDNN off: oneDNN picks its
    algorithm, and so its float rounding, by input size); a window shifted by one pixel does not."""
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.backends.mkldnn.flags(enabled=False), torch.no_grad():
        for layer, positions in cases:
            full = model.capture(x.contiguous(memory_format=torch.channels_last), [layer], pre_relu=True)[layer]
            for position in positions:
                probe = ns.tuning.make_probe(model, layer, position)
                want = full[:, :, probe.position[0], probe.position[1]]
                window = probe.evaluate(probe.window(x))
                assert torch.equal(want, window), (layer, position, (want - window).abs().max())
                (top, left), (h, w) = probe.offset, probe.size
                if top > 0 and h < 224:
                    moved = probe.evaluate(x[..., top - 1:top - 1 + h, left:left + w])
                    assert (moved - want).abs().max() > 1e-3 * want.abs().max()


EXACT = pytest.mark.filterwarnings("ignore:TF32 acceleration")


@EXACT
def test_minimal_input_is_exact_on_efficientnet(effnet):
    _check_exact(effnet, [("block6_expand", [None, (0, 0), (13, 12)]), ("block3", [(27, 5)])])
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    assert probe.size == (96, 96) and probe.offset == (64, 64) and probe.local == (2, 2)
    # the window holds the whole field: 83 px from row 70, i.e. window rows 6..88
    top, left, bottom, right = probe.field.box(6, 6)
    assert (top, bottom) == (70, 153) and probe.offset[0] <= top and bottom <= probe.offset[0] + probe.size[0]


@EXACT
def test_minimal_input_is_exact_on_random_inceptionv1(inception):
    _check_exact(inception, [("mixed3b", [None, (27, 0)]), ("mixed4a", [(3, 9)])])
    assert ns.tuning.make_probe(inception, "mixed3b").size == (96, 96)


def test_full_image_is_used_when_it_is_not_a_multiple_of_the_stride(effnet):
    probe = ns.tuning.make_probe(effnet, "block6_expand", input_size=200)
    assert probe.size == (200, 200) and probe.offset == (0, 0)


def test_bad_probe_arguments(effnet):
    with pytest.raises(NeuronscopeError):
        ns.tuning.make_probe(effnet, "block6_expand", (14, 0))
    with pytest.raises(NeuronscopeError):
        ns.tuning.make_probe(effnet, "nope")
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    with pytest.raises(NeuronscopeError):
        sweeps.curve_tuning(probe, [480], scale=object())


@pytest.fixture(scope="module")
def two_images(shared):
    return sorted(str(p) for p in (shared / "data" / "imagenet-sample").glob("*.jpg"))[:2]


@pytest.fixture(scope="module")
def stats(effnet, two_images):
    return dataset_stats(effnet, "block6_expand", images=two_images)


def test_units_are_dataset_sds_over_every_position(effnet, two_images, stats):
    pixels = torch.stack([standard_view(p) for p in two_images])
    with torch.no_grad():
        acts = effnet.capture(pixels, ["block6_expand"], pre_relu=True)["block6_expand"].double()
    values = acts.transpose(0, 1).reshape(acts.shape[1], -1)  # 2 images x 196 positions per unit
    scale = units_of(stats)
    np.testing.assert_allclose(scale.mean, values.mean(1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale.std, values.std(1, unbiased=False).numpy(), rtol=1e-4)
    z = scale.z(np.array([[1.0, 2.0]]), [3, 7])
    np.testing.assert_allclose(z, [[(1 - scale.mean[3]) / scale.std[3], (2 - scale.mean[7]) / scale.std[7]]])
    assert "2 listed images" in scale.label and "all positions" in scale.label


def test_statistics_of_another_layer_are_refused(effnet, stats):
    with pytest.raises(NeuronscopeError):
        dataset_stats(effnet, "block5_depthwise", stats)


def test_sweeps_match_stimuli_rendered_on_the_full_image(effnet, stats):
    """A stimulus rendered at 224 px around the field centre gives the window's value."""
    probe = ns.tuning.make_probe(effnet, "block6_expand", (5, 7))
    curves = sweeps.curve_tuning(probe, [1, 375], scale=units_of(stats), orientations=[30, 200], radii=[0.1, 0.5])
    assert curves.raw.shape == (2, 2, 2)
    theta, radius = stimuli.sweep([30, 200], [0.1 * 83, 0.5 * 83])
    images = stimuli.curves(theta, radius, size=224, center=probe.field.center(5, 7), arc_length=0.5 * 83)
    with torch.no_grad():
        full = effnet.capture(images, ["block6_expand"], pre_relu=True)["block6_expand"][:, [1, 375], 5, 7]
    np.testing.assert_allclose(curves.raw.reshape(4, 2), full.numpy(), rtol=1e-4, atol=1e-4)
    post = curves.post
    np.testing.assert_allclose(post, np.clip(curves.raw, 0, 6))


@pytest.mark.parametrize("sweep, render, axes, fixed", [
    (sweeps.line_tuning, stimuli.lines, {"orientations": [20, 110], "offsets": [0.0, 0.15]},
     {"length": 0.5}),
    (sweeps.angle_tuning, stimuli.angles, {"orientations": [45, 300], "openings": [60, 135]},
     {"arm_length": 0.25}),
    (sweeps.morph_tuning, stimuli.angle_to_curve, {"orientations": [45, 300], "roundness": [0.0, 0.5, 1.0]},
     {"arm_length": 0.25}),
])
def test_line_angle_and_morph_sweeps_match_full_image_renders(effnet, stats, sweep, render, axes, fixed):
    """Each sweep's value is the full model's response to its stimulus drawn independently at 224 px
    (3 px black strokes on white, sizes in fractions of the 83 px field) around the field centre."""
    probe = ns.tuning.make_probe(effnet, "block6_expand", (5, 7))
    t = sweep(probe, [1, 375], scale=units_of(stats), **axes)
    first, second = axes.values()
    second = [v * 83 for v in second] if sweep is sweeps.line_tuning else second  # offsets: fractions of the field
    a, b = stimuli.sweep(first, second)
    images = render(a, b, size=224, center=probe.field.center(5, 7), stroke_width=3.0, foreground="black",
                    background="white", **{k: v * 83 for k, v in fixed.items()})
    with torch.no_grad():
        full = effnet.capture(images, ["block6_expand"], pre_relu=True)["block6_expand"][:, [1, 375], 5, 7]
    assert t.raw.shape == (len(first), len(axes[list(axes)[1]]), 2)
    np.testing.assert_allclose(t.raw.reshape(-1, 2), full.numpy(), rtol=1e-4, atol=1e-4)
    assert np.ptp(t.raw) > 0.1  # the stimuli differ, so the check compares something


def test_fill_and_colour_conditions_are_the_stimuli_they_name(effnet, stats):
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    t = sweeps.fill_colour_tuning(probe, [375], scale=units_of(stats), orientations=[0, 90], colours=2, seed=3)
    assert t.meta["conditions"] == ["outline", "filled", "inverted", "colour 0", "colour 1"]
    fg, bg = stimuli.random_color_pairs(2, seed=3)
    style = dict(size=probe.size, center=probe.center, arc_length=0.5 * 83)
    want = torch.cat([stimuli.curves(90, 0.25 * 83, **style, filled=True),
                      stimuli.curves(90, 0.25 * 83, **style, foreground="white", background="black"),
                      stimuli.curves(90, 0.25 * 83, **style, foreground=fg[1].tolist(), background=bg[1].tolist())])
    np.testing.assert_allclose(t.raw[[1, 2, 4], 1, 0], probe.evaluate(want, [375])[:, 0].numpy(), rtol=1e-5)


def test_tangent_points_lie_on_the_curve(effnet, stats):
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    t = sweeps.tangent_line_tuning(probe, [0], scale=units_of(stats), orientation_deg=120, radius=0.3, positions=5,
                                   line_orientations=[0, 90])
    arc = stimuli.curves(120, 0.3 * 83, size=probe.size, center=probe.center, arc_length=0.5 * 83)[0, 0]
    r = 0.3 * 83
    for s, tangent in zip(t.axes["position"], t.meta["tangent_deg"]):
        a = s / r  # independent: the arc point at arc length s from the midpoint, orientation 120
        x = r * np.cos(np.deg2rad(120) + a) - r * np.cos(np.deg2rad(120))
        y = r * np.sin(np.deg2rad(120) + a) - r * np.sin(np.deg2rad(120))
        row, col = probe.center[0] - y, probe.center[1] + x
        assert arc[round(row), round(col)] < 0.5  # ink (black on white)
        assert tangent == pytest.approx((120 + np.rad2deg(a)) % 180, abs=0.01)


def test_rotated_windows_rotate_the_stimulus(effnet):
    """An image of a curve of orientation 30 rotated by 90 matches a rendered curve of orientation 120."""
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    centre = (100.0, 120.0)
    image = stimuli.curves(30, 20, size=224, center=centre, arc_length=40)[0]
    windows = joint.rotated_windows(probe, image, centre, torch.tensor([0.0, 90.0]))
    want = stimuli.curves([30, 120], 20, size=probe.size, center=probe.center, arc_length=40)
    wrong = (windows[1] - want[0]).abs().mean()  # the unrotated curve: ink in the wrong place
    assert (windows - want).abs().mean() < 0.2 * wrong


def test_results_save_and_figures(effnet, stats, tmp_path):
    probe = ns.tuning.make_probe(effnet, "block6_expand")
    scale = units_of(stats)
    curves = sweeps.curve_tuning(probe, [375, 115], scale=scale, orientations=np.arange(0, 360, 45), radii=[0.2, 0.4])
    npz, js = curves.save(tmp_path)
    doc = json.loads(js.read_text())
    assert doc["dims"] == ["orientation_deg", "radius", "unit"] and doc["units"] == [375, 115]
    assert doc["unit_of_z"] == scale.label
    np.testing.assert_allclose(np.array(doc["z"]), (curves.raw - scale.mean[[375, 115]]) / scale.std[[375, 115]],
                               atol=1e-4)
    assert np.load(npz)["raw"].shape == (8, 2, 2)
    for fig, name in ((figures.plot_curve_heatmaps(curves), "h.png"), (figures.plot_radial(curves), "r.png")):
        assert figures.save(fig, tmp_path / name).stat().st_size > 10_000
