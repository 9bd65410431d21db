"""The stimulus renderers: curves, angles, angle-to-curve morphs and lines.

Conventions shared by all renderers:

- Orientation (degrees) is the direction of the shape's outward normal at its midpoint,
  counter-clockwise from the image's +x axis with y pointing up: a "∩" arc and a "∧"
  angle both have orientation 90. Lines use the normal's direction modulo 180.
- The shape's midpoint (where its mirror axis crosses the stroke: the arc's midpoint, the
  angle's vertex) is placed at ``center = (cy, cx)``, in pixel coordinates where pixel
  ``(row, col)`` has its centre at ``(row, col)``; the default is the image centre
  ``((H - 1) / 2, (W - 1) / 2)``.
- Every numeric parameter is a number or a 1-D sequence/tensor of length N (or 1);
  colours and centres are one row or N rows. The result is (N, 3, H, W) float32 in
  [0, 1] on ``device`` (default: the device of ``orientation_deg`` if it is a tensor).
- Strokes have round caps; edges are antialiased with a tent filter of one pixel
  half-maximum width (see ``geometry``), so a stroke of width w >= 3 has a solid core.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.stimuli import geometry as g
from neuronscope.stimuli.colors import Color
from neuronscope.stimuli.params import Values, broadcast, vector
from neuronscope.stimuli.render import image_size, render, resolve_device

Size = int | Sequence[int]
Center = Sequence[float] | torch.Tensor | None


def _check(ok: torch.Tensor, message: str) -> None:
    if not bool(ok.all()):
        raise NeuronscopeError(message)


def _stroke_width(p: dict[str, torch.Tensor]) -> None:
    _check(p["width"].isfinite() & (p["width"] >= 0), "stroke_width must be finite and >= 0")


def curves(orientation_deg: Values, radius: Values, *, size: Size = 224, center: Center = None,
           arc_length: Values | None = None, stroke_width: Values = 3.0, foreground: Color = "black",
           background: Color = "white", filled: bool = False,
           device: torch.device | str | None = None) -> torch.Tensor:
    """Circular arcs of ``radius`` px (``inf`` gives a straight segment) with their midpoint
    at ``center`` and outward normal ``orientation_deg``.

    ``arc_length`` is the length of the arc's centre line in px (default: half the smaller
    image side), the same for every radius so that curvature varies but ink does not;
    an arc longer than its circle is drawn as the full circle. For a fixed angular extent
    pass ``arc_length = radius * angle_in_radians``. With ``filled=True`` the circular
    segment between the arc and its chord (the side toward the centre of curvature; the
    whole disk for a full circle, nothing extra for a straight segment) is filled as well;
    the chord edge has no stroke.
    """
    hw = image_size(size)
    p = broadcast(theta=vector("orientation_deg", orientation_deg), radius=vector("radius", radius),
                  length=vector("arc_length", min(hw) / 2 if arc_length is None else arc_length),
                  width=vector("stroke_width", stroke_width))
    _check(p["radius"] > 0, "radius must be > 0 (inf for a straight segment)")
    _check(p["length"].isfinite() & (p["length"] > 0), "arc_length must be finite and > 0")
    _stroke_width(p)
    half_length = torch.minimum(p["length"] / 2, math.pi * p["radius"])
    k = 1 / p["radius"]
    half_angle = half_length * k
    chord = torch.where(p["length"] / 2 >= math.pi * p["radius"], -math.inf, g.arc_end(half_length, half_angle)[1])
    params = dict(theta=torch.deg2rad(p["theta"]), k=k, half_length=half_length, half_angle=half_angle,
                  chord=chord, width=p["width"])

    def coverage(u, v, k, half_length, half_angle, chord, width):
        u = u.abs()
        ink = g.band_coverage(g.arc_distance(u, v, k, half_length, half_angle), width)
        if not filled:
            return ink
        # Intersection of the disk and the half-plane beyond the chord; the summed ramps
        # give zero ink for a zero-area segment (a straight arc).
        segment = g.inside_coverage(g.circle_distance(u, v, k)) + g.inside_coverage(chord - v) - 1
        return torch.maximum(ink, segment.clamp(0.0, 1.0))

    return render(coverage, params, size=hw, center=center, foreground=foreground, background=background,
                  device=resolve_device(device, orientation_deg))


def angle_to_curve(orientation_deg: Values, roundness: Values, *, opening_deg: Values = 90.0,
                   arm_length: Values | None = None, size: Size = 224, center: Center = None,
                   stroke_width: Values = 3.0, foreground: Color = "black", background: Color = "white",
                   device: torch.device | str | None = None) -> torch.Tensor:
    """Morphs from an angle (``roundness`` 0) to the circular arc tangent to its arms at
    their ends (``roundness`` 1), continuous in between.

    The angle has arms of ``arm_length`` px (default: a quarter of the smaller image side)
    meeting at ``opening_deg`` in (0, 180]. At roundness r the corner is replaced by a
    fillet arc tangent to both arms at distance ``r * arm_length`` from the vertex, so the
    fillet's radius is ``r`` times that of the final arc (see ``angle_arc``) and the arms'
    far ends stay put relative to each other. The shape's midpoint (the vertex, then the
    fillet's midpoint) is at ``center``, so the arms shift along the bisector as r grows.
    """
    hw = image_size(size)
    p = broadcast(theta=vector("orientation_deg", orientation_deg), roundness=vector("roundness", roundness),
                  opening=vector("opening_deg", opening_deg),
                  arm=vector("arm_length", min(hw) / 4 if arm_length is None else arm_length),
                  width=vector("stroke_width", stroke_width))
    _check((p["roundness"] >= 0) & (p["roundness"] <= 1), "roundness must be in [0, 1]")
    _check((p["opening"] > 0) & (p["opening"] <= 180), "opening_deg must be in (0, 180]")
    _check(p["arm"].isfinite() & (p["arm"] > 0), "arm_length must be finite and > 0")
    _stroke_width(p)
    rho, arm = p["roundness"], p["arm"]
    half_angle = torch.deg2rad(180 - p["opening"]) / 2  # of the final arc
    k = torch.tan(half_angle) / arm
    half_length = torch.where(half_angle > 0, arm * half_angle / torch.tan(half_angle), arm)
    params = dict(theta=torch.deg2rad(p["theta"]), k=torch.where(rho > 0, k / rho, math.inf),
                  half_length=rho * half_length, half_angle=half_angle, arm=(1 - rho) * arm, width=p["width"])

    def coverage(u, v, k, half_length, half_angle, arm, width):
        u = u.abs()
        fillet = g.arc_distance(u, v, k, half_length, half_angle)
        direction = (torch.cos(half_angle), -torch.sin(half_angle))
        arms = g.segment_distance(u, v, g.arc_end(half_length, half_angle), direction, arm)
        return g.band_coverage(torch.minimum(fillet, arms), width)

    return render(coverage, params, size=hw, center=center, foreground=foreground, background=background,
                  device=resolve_device(device, orientation_deg))


def angles(orientation_deg: Values, opening_deg: Values, *, arm_length: Values | None = None, size: Size = 224,
           center: Center = None, stroke_width: Values = 3.0, foreground: Color = "black",
           background: Color = "white", device: torch.device | str | None = None) -> torch.Tensor:
    """Two straight strokes of ``arm_length`` px (default: a quarter of the smaller image
    side) meeting at ``opening_deg`` in (0, 180] at a vertex placed at ``center``.

    The orientation is the bisector's direction from the opening toward the vertex ("∧"
    is 90), i.e. the outward normal of the curve the angle approximates. Same as
    ``angle_to_curve`` at roundness 0.
    """
    return angle_to_curve(orientation_deg, 0.0, opening_deg=opening_deg, arm_length=arm_length, size=size,
                          center=center, stroke_width=stroke_width, foreground=foreground,
                          background=background, device=device)


def angle_arc(opening_deg: Values, arm_length: Values) -> tuple[torch.Tensor, torch.Tensor]:
    """``(radius, arc_length)`` of the arc that ``angle_to_curve`` reaches at roundness 1:
    tangent to both arms at their ends, so ``radius = arm_length * tan(opening / 2)``
    (``inf`` for a straight angle) and ``arc_length = radius * (pi - opening)``."""
    p = broadcast(opening=vector("opening_deg", opening_deg), arm=vector("arm_length", arm_length))
    _check((p["opening"] > 0) & (p["opening"] <= 180), "opening_deg must be in (0, 180]")
    half_angle = torch.deg2rad(180 - p["opening"]) / 2
    radius = torch.where(half_angle > 0, p["arm"] / torch.tan(half_angle), math.inf)
    length = torch.where(half_angle > 0, 2 * half_angle * radius, 2 * p["arm"])
    return radius, length


def lines(orientation_deg: Values, offset: Values = 0.0, *, length: Values | None = None, size: Size = 224,
          center: Center = None, stroke_width: Values = 3.0, foreground: Color = "black",
          background: Color = "white", device: torch.device | str | None = None) -> torch.Tensor:
    """Straight lines whose normal has orientation ``orientation_deg``.

    The line passes through ``center + offset * (cos, sin)(orientation)``, so at offset 0
    orientations 180 apart draw the same line, and in general ``lines(theta + 180, -offset)``
    equals ``lines(theta, offset)`` (a line's orientation is defined modulo 180; keeping
    the sign on the offset makes the renders rotate with the orientation). ``length`` in
    px gives a segment centred on that point; the default spans the whole image.
    """
    hw = image_size(size)
    p = broadcast(theta=vector("orientation_deg", orientation_deg), offset=vector("offset", offset),
                  length=vector("length", math.inf if length is None else length),
                  width=vector("stroke_width", stroke_width))
    _check(p["offset"].isfinite(), "offset must be finite")
    _check(p["length"] > 0, "length must be > 0")
    _stroke_width(p)
    params = dict(theta=torch.deg2rad(p["theta"]), offset=p["offset"],
                  half_length=p["length"] / 2, width=p["width"])

    def coverage(u, v, offset, half_length, width):
        straight = torch.zeros_like(half_length)  # curvature and half-angle of a straight arc
        return g.band_coverage(g.arc_distance(u.abs(), v - offset, straight, half_length, straight), width)

    return render(coverage, params, size=hw, center=center, foreground=foreground, background=background,
                  device=resolve_device(device, orientation_deg))
