"""Hand-built curve detectors: the motif's analytic cases, the conv's geometry, and curve
preference through a planted family of line detectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.aann import Motif, artificial_model, build_layer, motif_kernels, motif_weight
from neuronscope.errors import NeuronscopeError

MOTIF = Motif(radius=3.0, tolerance_deg=20.0, width=0.5, misaligned=0.5, off_curve=0.2)


def on_curve(theta_deg: float, beta_deg: float, radius: float = 3.0) -> tuple[float, float, float]:
    """(x, y, outward normal) of the point beta degrees along the ideal arc from its midpoint."""
    theta = math.radians(theta_deg)
    cx, cy = -radius * math.cos(theta), -radius * math.sin(theta)
    a = math.radians(theta_deg + beta_deg)
    return cx + radius * math.cos(a), cy + radius * math.sin(a), theta_deg + beta_deg


@pytest.mark.parametrize("theta", [0.0, 90.0, 200.0])
@pytest.mark.parametrize("beta", [0.0, 35.0, -60.0])
def test_motif_signs_on_the_curve(theta, beta):
    x, y, normal = on_curve(theta, beta)
    w = lambda phi, period=360.0: float(motif_weight(x, y, theta, phi, period, MOTIF))  # noqa: E731
    assert w(normal) == pytest.approx(1.0, abs=1e-9)  # aligned with the tangent there: full excitation
    assert w(normal + 90) == pytest.approx(-0.5, abs=1e-4)  # perpendicular: -misaligned
    assert w(normal - 90) == pytest.approx(-0.5, abs=1e-4)
    assert w(normal + 180) == pytest.approx(-0.5, abs=1e-4)  # opposite curve: -misaligned
    assert w(normal + 180, period=180.0) == pytest.approx(1.0, abs=1e-9)  # a line has no opposite
    assert w(normal + 10) == pytest.approx(1.5 * math.exp(-0.5 * 0.25) - 0.5, abs=1e-9)  # within tolerance


def test_motif_off_the_curve():
    # (0, 2.5) lies 2.5 above the midpoint of the "∩" arc (theta 90), five widths away
    aligned = float(motif_weight(0.0, 2.5, 90.0, 90.0, 360.0, MOTIF))
    on = math.exp(-0.5 * 25)
    assert aligned == pytest.approx(on - 0.2 * (1 - on), abs=1e-9)  # weak inhibition
    assert 0 > aligned > -0.5
    assert abs(float(motif_weight(0.0, 2.5, 90.0, 0.0, 360.0, MOTIF))) < 1e-4  # misaligned far away: nothing
    # the arc stops at +-90 degrees: the circle's far side (0, -6) is 3 * sqrt(2) from the arc's ends
    far = float(motif_weight(0.0, -6.0, 90.0, 270.0, 360.0, MOTIF))
    assert abs(far) < 1e-4  # a full circle would give +1 here


def test_kernel_layout_is_y_up():
    """For the ∩ detector (90) of radius 3 on a 7x7 kernel, the arc's right end (3, -3) is the
    bottom-right tap, where the curve's normal points right (0 degrees)."""
    k = motif_kernels([90.0], [0.0, 90.0], ["curve", "curve"], (7, 7), MOTIF)
    assert k.shape == (1, 2, 7, 7)
    assert k[0, 0, 6, 6] == pytest.approx(1.0, abs=1e-6)  # normal 0 at the bottom-right
    assert k[0, 1, 3, 3] == pytest.approx(1.0, abs=1e-6)  # normal 90 at the centre
    assert k[0, 0, 0, 6] < 0 and k[0, 0, 6, 0] < 0  # top-right is off the curve; bottom-left points left


# --- a planted source family: oriented line detectors on a 4-pixel grid --------------------------

N_LINES = 12


def line_kernel(phi_deg: float, size: int = 9, sigma: float = 1.2) -> torch.Tensor:
    """A dark-line detector whose line has normal phi (y up): a Mexican hat across, Gaussian along."""
    c = (size - 1) / 2
    y = c - torch.arange(size, dtype=torch.float64).view(-1, 1)
    x = torch.arange(size, dtype=torch.float64).view(1, -1) - c
    phi = math.radians(phi_deg)
    u, t = x * math.cos(phi) + y * math.sin(phi), -x * math.sin(phi) + y * math.cos(phi)
    k = (1 - (u / sigma) ** 2) * torch.exp(-0.5 * (u / sigma) ** 2) * torch.exp(-0.5 * (t / 3.0) ** 2)
    return (k - k.mean()).float()


LINE_FAMILY = [(i, 180 * i / N_LINES) for i in range(N_LINES)]
PLANTED_MOTIF = Motif(radius=3.0, tolerance_deg=20.0, width=0.6, misaligned=0.5, off_curve=0.15)
NATURAL = [(0, 0.0), (1, 120.0), (2, 240.0)]  # the planted target units are the motif's detectors


class Planted(nn.Module):
    """Line detectors on a 4-pixel grid, then a 7x7 target conv whose units are planted curve
    detectors (the motif's kernels for NATURAL's orientations)."""

    def __init__(self):
        super().__init__()
        self.lines = nn.Conv2d(1, N_LINES, 9, stride=4, padding=4, bias=False)
        self.lines.weight.data = torch.stack([line_kernel(t) for _, t in LINE_FAMILY]).unsqueeze(1)
        self.target = nn.Conv2d(N_LINES, 3, 7, padding=3, bias=False)
        self.target.weight.data = motif_kernels([t for _, t in NATURAL], [t for _, t in LINE_FAMILY],
                                                ["line"] * N_LINES, (7, 7), PLANTED_MOTIF)
        self.relu = nn.ReLU()  # a module, so that `ns.linearized()` makes it the identity
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.target(self.relu(self.lines(x))).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def planted():
    torch.manual_seed(0)
    return ns.wrap(Planted(), preprocess=lambda x: 1 - x.mean(dim=1, keepdim=True),
                   layers={"lines": "relu", "target": None}, name="planted")


@pytest.fixture(scope="module")
def layer(planted):
    return build_layer(planted, "lines", "target", range(0, 360, 45), lines=LINE_FAMILY, input_size=64,
                       motif=PLANTED_MOTIF)


def test_layer_geometry_and_values(planted, layer):
    amodel = artificial_model(planted, layer)
    assert layer.kernel_size == (7, 7) and layer.stride == (1, 1)
    assert amodel.receptive_field("target", 64) == planted.receptive_field("target", 64)
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = amodel.capture(images, ["target"], pre_relu=True)["target"]
        src = planted.capture(images, ["lines"])["lines"]  # post-ReLU source values
    assert out.shape == (2, 8, 16, 16)
    # position (5, 9) reads source positions (2..8, 6..12): the plain correlation, by hand
    expected = (layer.weight[3] * src[1, :, 2:9, 6:13]).sum()
    assert float(out[1, 3, 5, 9]) == pytest.approx(float(expected), rel=1e-5)
    # the border: position (0, 0) sees zero padding above and left
    expected = (layer.weight[5][:, 3:, 3:] * src[0, :, 0:4, 0:4]).sum()
    assert float(out[0, 5, 0, 0]) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)


def test_circuits_read_the_artificial_kernels(planted, layer):
    """The artificial model's expanded weights (the circuits tool, by back-propagation) are the
    layer's kernels: the conv's geometry matches the circuits convention tap for tap."""
    from neuronscope.circuits import expanded_weights

    kernels = expanded_weights(artificial_model(planted, layer), "lines", "target", input_size=64)
    torch.testing.assert_close(kernels, layer.weight.detach(), rtol=1e-5, atol=1e-6)


def test_artificial_units_prefer_their_orientation(planted, layer):
    amodel = artificial_model(planted, layer)
    field = amodel.receptive_field("target", 64)
    y, x = field.central_position()
    angles = torch.arange(0, 360, 15.0)
    images = ns.stimuli.curves(angles, 12.0, size=64, center=field.center(y, x), arc_length=12.0 * math.pi * 0.8,
                               stroke_width=2.0)
    with torch.no_grad():
        r = amodel.capture(images, ["target"], pre_relu=True)["target"][:, :, y, x]  # (stimuli, units)
    for k, theta in enumerate(layer.orientations):
        best = float(angles[r[:, k].argmax()])
        assert min(abs(best - theta) % 360, 360 - abs(best - theta) % 360) <= 15, (theta, best)
        opposite = int(((theta + 180) % 360) // 15)
        assert r[int(theta // 15), k] > r[opposite, k]


def test_build_layer_rejects_bad_input(planted):
    with pytest.raises(NeuronscopeError):
        build_layer(planted, "lines", "target", [0.0], lines=[(99, 0.0)], input_size=64)
    with pytest.raises(NeuronscopeError):
        build_layer(planted, "lines", "target", [], lines=[(0, 0.0)], input_size=64)
    with pytest.raises(NeuronscopeError):
        build_layer(planted, "lines", "target", [0.0], lines=[(0, 0.0)], input_size=64, motif=Motif(kernel_size=4))
    with pytest.raises(NeuronscopeError):
        Motif(radius=0)


def test_comparisons_find_the_planted_detectors(planted):
    """Artificial units built like the planted ones match them: kernels and radial tuning
    correlate 1 with the orientation-matched natural unit and less with the others."""
    from neuronscope.aann.compare import compare_kernels, compare_tuning
    from neuronscope.tuning import Units

    # built for orientations near the planted ones, in another order, with the planted kernels
    layer = build_layer(planted, "lines", "target", [230.0, 5.0, 125.0], lines=LINE_FAMILY, input_size=64,
                        motif=PLANTED_MOTIF)
    layer.weight.data = build_layer(planted, "lines", "target", [240.0, 0.0, 120.0], lines=LINE_FAMILY,
                                    input_size=64, motif=PLANTED_MOTIF).weight.data
    kernels = compare_kernels(planted, layer, NATURAL)
    assert kernels.comparison.pairs == [2, 0, 1]
    np.testing.assert_allclose(kernels.comparison.matched, 1.0, atol=1e-5)
    assert kernels.comparison.baseline < 0.5
    assert kernels.natural["line"].kernels.shape == (3, N_LINES, 7, 7)
    raw = Units(np.zeros(3), np.ones(3), "raw")
    tuning = compare_tuning(planted, layer, NATURAL, natural_scale=raw, artificial_scale=raw,
                            orientations=np.arange(0, 360, 30.0), radii=[0.3, 0.5])
    np.testing.assert_allclose(tuning.comparison.matched, 1.0, atol=1e-5)
    assert tuning.comparison.baseline < 0.5


def test_cli(planted, tmp_path, monkeypatch, capsys):
    import json

    from neuronscope.cli import main
    from neuronscope.cli.commands import aann

    monkeypatch.setattr(aann, "model_from_args", lambda args: planted)
    family = ",".join(f"{u}:{t}" for u, t in NATURAL)
    lines = ",".join(f"{u}:{t}" for u, t in LINE_FAMILY)
    out = tmp_path / "out"
    argv = ["aann", "planted", "--from", "lines", "--to", "target", "--out", str(out), "--family", family,
            "--lines", lines, "--curves", "none", "--radius", "3", "--tolerance", "20", "--width", "0.6",
            "--featvis-steps", "2"]
    assert main(argv) == 0
    summary = json.loads((out / "aann.json").read_text())
    assert summary["orientations"] == [0.0, 120.0, 240.0]  # one artificial unit per natural one
    # the planted target units are the motif's detectors: every matched kernel correlates 1
    assert [p["correlation"] for p in summary["kernels"]["pairs"]] == pytest.approx([1, 1, 1], abs=1e-4)
    assert {p.name for p in out.iterdir()} >= {"kernels_line.png", "heatmaps.png", "radial.png", "radial_pairs.png",
                                               "featvis_natural.png", "featvis_artificial.png"}
    assert "kernels: correlation with the orientation-matched natural unit 1.00" in capsys.readouterr().out
