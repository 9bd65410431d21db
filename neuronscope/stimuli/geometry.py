"""Distance fields and pixel coverage for the stimulus shapes, evaluated on a pixel grid.

Every shape lives in a local frame per stimulus: ``v`` runs along the outward normal
(the orientation) and ``u`` along the tangent, both in pixels, with the shape's midpoint
at the origin. The shapes are mirror-symmetric about ``u = 0``, so the distance
functions take the folded ``|u|``. Curvature ``k = 1/radius`` is used instead of the
radius so that straight strokes (``radius = inf``, ``k = 0``) are handled exactly.
"""

from __future__ import annotations

import torch


def local_frame(size: tuple[int, int], center: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tangent and normal coordinates ``(u, v)``, each (N, H, W), of every pixel centre.

    Pixel ``(row, col)`` has its centre at ``(row, col)``; ``center`` is (N, 2) as
    ``(cy, cx)`` in those coordinates and ``theta`` (N,) in radians, counter-clockwise
    from +x with y pointing up (so y = cy - row).
    """
    h, w = size
    rows = torch.arange(h, dtype=torch.float32, device=center.device).view(1, h, 1)
    cols = torch.arange(w, dtype=torch.float32, device=center.device).view(1, 1, w)
    x = cols - center[:, 1].view(-1, 1, 1)
    y = center[:, 0].view(-1, 1, 1) - rows
    cos, sin = torch.cos(theta).view(-1, 1, 1), torch.sin(theta).view(-1, 1, 1)
    return y * cos - x * sin, x * cos + y * sin


def _gentle_circle(u: torch.Tensor, v: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    return (k * (u * u + v * v) + 2 * v) / (torch.hypot(k * u, k * v + 1) + 1)


def _tight_circle(u: torch.Tensor, v: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    r = 1 / k
    return torch.hypot(u, v + r) - r


def circle_distance(u: torch.Tensor, v: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Signed distance to the circle through the origin with centre ``(0, -1/k)``.

    Positive on the outward side (away from the centre). Uses a cancellation-free form
    for ``k <= 1`` (exactly ``v`` at ``k = 0``) and the direct form for tighter circles
    (exactly the distance to the origin at ``k = inf``).
    """
    gentle = k <= 1
    if bool(gentle.all()):
        return _gentle_circle(u, v, k)
    if not bool(gentle.any()):
        return _tight_circle(u, v, k)
    return torch.where(gentle, _gentle_circle(u, v, k.clamp(max=1.0)), _tight_circle(u, v, k.clamp(min=1.0)))


def arc_end(half_length: torch.Tensor, half_angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """End point ``(u, v)`` (u >= 0) of the arc with its midpoint at the origin.

    Written with ``sinc`` so that it stays exact for straight arcs (half_angle 0) and
    for zero-length arcs (a point).
    """
    eu = half_length * torch.sinc(half_angle / torch.pi)
    ev = -half_length * torch.sin(half_angle / 2) * torch.sinc(half_angle / (2 * torch.pi))
    return eu, ev


def arc_distance(u: torch.Tensor, v: torch.Tensor, k: torch.Tensor, half_length: torch.Tensor,
                 half_angle: torch.Tensor) -> torch.Tensor:
    """Unsigned distance to an arc of curvature ``k`` whose midpoint is the origin.

    ``u`` must be folded (``>= 0``); ``half_angle = k * half_length`` and is at most pi
    (a full circle); a straight arc (``k = 0``) may have an infinite ``half_length``.
    Inside the arc's angular wedge the distance is radial, outside it is the distance
    to the nearer end point.
    """
    eu, ev = arc_end(half_length, half_angle)
    in_wedge = (u * torch.cos(half_angle) - v * torch.sin(half_angle) <= eu) | (half_angle >= torch.pi)
    return torch.where(in_wedge, circle_distance(u, v, k).abs(), torch.hypot(u - eu, v - ev))


def segment_distance(u: torch.Tensor, v: torch.Tensor, start: tuple[torch.Tensor, torch.Tensor],
                     direction: tuple[torch.Tensor, torch.Tensor], length: torch.Tensor) -> torch.Tensor:
    """Distance to the segment from ``start`` along the unit ``direction`` for ``length``."""
    du, dv = u - start[0], v - start[1]
    t = (du * direction[0] + dv * direction[1]).clamp(min=0.0)
    t = torch.minimum(t, length)
    return torch.hypot(du - t * direction[0], dv - t * direction[1])


def _edge(x: torch.Tensor) -> torch.Tensor:
    """Fraction of the pixel filter lying below ``x`` px from its centre.

    The filter is a tent of support [-1, 1] (the 1-px box convolved with itself): its
    half-maximum width is one pixel, and unlike the box it keeps the ink of a thin
    diagonal stroke within a few percent of that of an axis-aligned one.
    """
    x = x.clamp(-1.0, 1.0)
    return 0.5 + x * (1 - 0.5 * x.abs())  # (1 + x)^2 / 2 below 0, 1 - (1 - x)^2 / 2 above


def band_coverage(distance: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Filtered coverage of a stroke of ``width`` whose centre line is ``distance`` away."""
    return _edge(width / 2 - distance) - _edge(-width / 2 - distance)


def inside_coverage(signed_distance: torch.Tensor) -> torch.Tensor:
    """Filtered coverage of a region given its signed distance (negative inside)."""
    return _edge(-signed_distance)
