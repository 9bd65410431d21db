"""Image cleanliness measures against analytic cases."""

from __future__ import annotations

import math

import torch

from neuronscope.optvis.quality import high_frequency_share, total_variation


def _wave(fy: float, fx: float, n: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    return (0.5 + 0.25 * torch.cos(2 * math.pi * (fy * y + fx * x))).expand(1, 3, n, n).float()


def test_high_frequency_share_of_pure_waves():
    assert high_frequency_share(_wave(0.5, 0.5)).item() > 0.999  # checkerboard: all energy at Nyquist
    # a Nyquist wave samples +-amplitude exactly: twice the energy of a lower wave of the same amplitude
    assert abs(high_frequency_share((_wave(0.5, 0.5) + _wave(1 / 8, 0)) / 2).item() - 2 / 3) < 1e-4
    assert high_frequency_share(_wave(1 / 8, 0)).item() < 1e-6  # 0.125 cycles/pixel, below the cut-off
    assert high_frequency_share(_wave(0, 10 / 32)).item() > 0.999  # 0.3125 > 0.25
    mixed = (_wave(0, 12 / 32) + _wave(1 / 8, 0)) / 2  # equal amplitudes, equal energies: half above
    assert abs(high_frequency_share(mixed).item() - 0.5) < 1e-4
    assert high_frequency_share(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0


def test_total_variation_of_a_checkerboard_and_a_ramp():
    board = _wave(0.5, 0.5, 8)  # alternates 0.75 / 0.25: every neighbour differs by 0.5
    assert abs(total_variation(board).item() - 0.5) < 1e-6
    ramp = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(2, 3, 11, 11)  # 0.1 per column, 0 per row
    assert abs(total_variation(ramp)[1].item() - 0.05) < 1e-6  # half the differences are 0, half 0.1
