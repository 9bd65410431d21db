"""The curve motif: how a source unit at a spatial offset should feed an ideal curve detector.

Geometry lives on the source layer's grid, in source positions, with the kernel's centre
(the target unit's receptive-field centre) at the origin, x to the right and y UP. The ideal
curve of orientation theta is the arc of radius `radius` whose midpoint is the origin and
whose outward normal there points along theta (a "∩" arc is 90 degrees); it spans
+-90 degrees around its midpoint (a semicircle), so small circles do not wrap around the
kernel. For an offset p, q is the nearest point of that arc, d = |p - q| how far p lies
from the curve, and psi the arc's outward normal at q. A source unit whose preferred
orientation is phi (the normal of the edge, line or curve it detects) is "aligned" at p
when phi is close to psi, i.e. its stroke runs along the curve's tangent there.

With delta the angle between phi and psi (modulo 360 for curve units, 180 for line units),
E = exp(-delta^2 / (2 tolerance^2)) the alignment and on = exp(-d^2 / (2 width^2)) the
closeness to the curve, the weight is

    w = on * ((1 + misaligned) * E - misaligned)  -  off_curve * (1 - on) * E

so aligned units on the curve get +1, perpendicular or opposite (180 degrees) units on the
curve get about -misaligned, aligned units off the curve get about -off_curve (the weak
inhibition that keeps a detector from answering straight lines and other curvatures), and
misaligned units off the curve get about 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from neuronscope.errors import NeuronscopeError

PERIODS = {"curve": 360.0, "line": 180.0}


@dataclass(frozen=True)
class Motif:
    """The few parameters of the hand-built curve detectors (lengths in source positions).

    radius: the ideal curve's radius; tolerance_deg: the angular tolerance of alignment;
    width: how far from the curve a unit still counts as on it; misaligned: inhibition of
    perpendicular / opposite units on the curve (excitation of aligned ones is 1); off_curve:
    inhibition of aligned units off the curve; kernel_size: the kernel's side (None: the
    target's whole window of source positions).
    """

    radius: float = 2.0
    tolerance_deg: float = 30.0
    width: float = 0.75
    misaligned: float = 0.5
    off_curve: float = 0.15
    kernel_size: int | None = None

    def __post_init__(self):
        for name in ("radius", "tolerance_deg", "width"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise NeuronscopeError(f"motif {name} must be finite and > 0, got {value}")
        for name in ("misaligned", "off_curve"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise NeuronscopeError(f"motif {name} must be finite and >= 0, got {getattr(self, name)}")
        if self.kernel_size is not None and self.kernel_size < 1:
            raise NeuronscopeError(f"motif kernel_size must be >= 1, got {self.kernel_size}")


def nearest_on_arc(x: torch.Tensor, y: torch.Tensor, theta_deg: torch.Tensor,
                   radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance to the ideal arc, outward normal at its nearest point in degrees) of the
    points (x, y), broadcast against the orientations `theta_deg`."""
    theta = torch.deg2rad(theta_deg)
    cx, cy = -radius * torch.cos(theta), -radius * torch.sin(theta)  # centre of curvature
    beta = torch.atan2(y - cy, x - cx) - theta
    beta = torch.remainder(beta + math.pi, 2 * math.pi) - math.pi
    beta = beta.clamp(-math.pi / 2, math.pi / 2)
    qx, qy = cx + radius * torch.cos(theta + beta), cy + radius * torch.sin(theta + beta)
    return torch.hypot(x - qx, y - qy), torch.rad2deg(theta + beta)


def angle_between(a_deg: torch.Tensor, b_deg: torch.Tensor, period: float | torch.Tensor) -> torch.Tensor:
    """Unsigned angle between orientations of the given period: in [0, period / 2]."""
    diff = torch.remainder(a_deg - b_deg, period)
    return torch.minimum(diff, period - diff)


def periods(kinds: Sequence[str]) -> torch.Tensor:
    """The orientation period of each family kind: 360 for "curve", 180 for "line"."""
    bad = [k for k in kinds if k not in PERIODS]
    if bad:
        raise NeuronscopeError(f"unknown family kind {bad[0]!r}; kinds are: {', '.join(PERIODS)}")
    return torch.tensor([PERIODS[k] for k in kinds], dtype=torch.float64)


def motif_weight(x, y, theta_deg, phi_deg, period, motif: Motif) -> torch.Tensor:
    """The motif's weight from a source unit of orientation `phi_deg` (whose orientations
    have `period`: 360 for curve units, 180 for line units) at offset (x, y) to the
    artificial unit of orientation `theta_deg`; all arguments broadcast (float64). See the
    module docstring for the formula."""
    x, y, theta, phi, period = (torch.as_tensor(v, dtype=torch.float64) for v in (x, y, theta_deg, phi_deg, period))
    distance, psi = nearest_on_arc(x, y, theta, motif.radius)
    aligned = torch.exp(-0.5 * (angle_between(phi, psi, period) / motif.tolerance_deg) ** 2)
    on = torch.exp(-0.5 * (distance / motif.width) ** 2)
    return on * ((1 + motif.misaligned) * aligned - motif.misaligned) - motif.off_curve * (1 - on) * aligned


def motif_kernels(orientations_deg, source_orientations_deg, kinds: Sequence[str], size: tuple[int, int],
                  motif: Motif) -> torch.Tensor:
    """(K, S, kh, kw) float32 kernels: artificial unit k (orientation `orientations_deg[k]`)
    from source unit s (`source_orientations_deg[s]`, of kind `kinds[s]`) at each tap.

    Tap (i, j) is the offset x = j - (kw - 1) / 2, y = (kh - 1) / 2 - i (rows grow downward).
    """
    kh, kw = size
    theta = torch.as_tensor(orientations_deg, dtype=torch.float64).reshape(-1, 1, 1, 1)
    phi = torch.as_tensor(source_orientations_deg, dtype=torch.float64).reshape(1, -1, 1, 1)
    if len(kinds) != phi.shape[1]:
        raise NeuronscopeError(f"{len(kinds)} kinds for {phi.shape[1]} source units")
    y = ((kh - 1) / 2 - torch.arange(kh, dtype=torch.float64)).reshape(1, 1, kh, 1)
    x = (torch.arange(kw, dtype=torch.float64) - (kw - 1) / 2).reshape(1, 1, 1, kw)
    return motif_weight(x, y, theta, phi, periods(kinds).reshape(1, -1, 1, 1), motif).float()
