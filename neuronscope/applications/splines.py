"""Differentiable strokes: Catmull-Rom spline chains rasterised with soft edges, in pure torch.

A stroke is a chain of P >= 2 control points (x right, y down, pixels, origin at the top-left
pixel's centre) that the curve passes through (uniform Catmull-Rom, the ends extended by
reflecting their neighbours), a width and an opacity. Each span is the cubic Bezier
(p1, p1 + (p2 - p0) / 6, p2 - (p3 - p1) / 6, p2), so a chain converts exactly to an SVG path.
For rasterising, every span is sampled at `samples_per_span` points and a pixel's coverage is

    opacity * sigmoid((width / 2 - d) / softness),   d = distance to the sampled polyline,

so a stroke is a soft-edged capsule chain and gradients reach every control point, width and
opacity (through the nearest segment of each pixel, as a min does). The nearest segment is
searched without autograd and only it is differentiated, and each stroke is computed only near
itself (its bounding box grown by the sigmoid's tail), so memory and time grow with the strokes'
extent, not with the image's area times the segments.

`StrokeImage` is the image parameterisation built on it (strokes of ink on a plain background),
usable wherever the optvis ones are, e.g. `ns.visualize(model, "block6_expand:10", param=...)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.errors import NeuronscopeError
from neuronscope.optvis.param import ImageParam

SAMPLES_PER_SPAN = 8
SOFTNESS = 0.5
_CHUNK = 1 << 24  # elements of one no-grad nearest-segment block


def bezier_spans(points: torch.Tensor) -> torch.Tensor:
    """(..., P, 2) Catmull-Rom control points -> (..., P - 1, 4, 2) cubic Bezier spans."""
    if points.shape[-2] < 2 or points.shape[-1] != 2:
        raise NeuronscopeError(f"a stroke needs (P >= 2, 2) control points, got shape {tuple(points.shape)}")
    first = 2 * points[..., :1, :] - points[..., 1:2, :]
    last = 2 * points[..., -1:, :] - points[..., -2:-1, :]
    padded = torch.cat([first, points, last], dim=-2)
    p0, p1, p2, p3 = padded[..., :-3, :], padded[..., 1:-2, :], padded[..., 2:-1, :], padded[..., 3:, :]
    return torch.stack([p1, p1 + (p2 - p0) / 6, p2 - (p3 - p1) / 6, p2], dim=-2)


def polyline(points: torch.Tensor, samples_per_span: int = SAMPLES_PER_SPAN) -> torch.Tensor:
    """(..., P, 2) control points -> (..., (P - 1) * samples_per_span + 1, 2) points along the curve."""
    spans = bezier_spans(points)
    t = torch.arange(samples_per_span, dtype=points.dtype, device=points.device) / samples_per_span
    basis = torch.stack([(1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t ** 2 * (1 - t), t ** 3], dim=-1)  # (S, 4)
    pts = torch.einsum("sj,...jc->...sc", basis, spans).flatten(-3, -2)
    return torch.cat([pts, points[..., -1:, :]], dim=-2)


def polyline_length(poly: torch.Tensor) -> torch.Tensor:
    """(..., V, 2) -> (...) summed segment lengths."""
    return (poly[..., 1:, :] - poly[..., :-1, :]).norm(dim=-1).sum(-1)


def _nearest(px: torch.Tensor, py: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(h, w) index of the segment a[i]-b[i] ((S, 2) each) nearest to each pixel of the grid
    px (w,) x py (h,); no autograd, in chunks of segments."""
    best_d = best_i = None
    step = max(1, _CHUNK // max(1, len(px) * len(py)))
    with torch.no_grad():
        for start in range(0, len(a), step):
            ax, ay = a[start:start + step, 0, None, None], a[start:start + step, 1, None, None]
            ux = b[start:start + step, 0, None, None] - ax
            uy = b[start:start + step, 1, None, None] - ay
            dx, dy = px.view(1, 1, -1) - ax, py.view(1, -1, 1) - ay
            t = ((dx * ux + dy * uy) / (ux * ux + uy * uy).clamp_min(1e-12)).clamp(0, 1)
            d2 = (dx - t * ux) ** 2 + (dy - t * uy) ** 2
            d, i = d2.min(0)
            if best_d is None:
                best_d, best_i = d, i
            else:
                closer = d < best_d
                best_d, best_i = torch.where(closer, d, best_d), torch.where(closer, i + start, best_i)
    return best_i


def distance(poly: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """(V, 2) polyline -> (len(ys), len(xs)) distance from each pixel centre (x, y) of the grid to
    the polyline, differentiable w.r.t. the polyline through each pixel's nearest segment."""
    a, b = poly[:-1], poly[1:]
    i = _nearest(xs, ys, a.detach(), b.detach())
    ax, ay, bx, by = a[i, 0], a[i, 1], b[i, 0], b[i, 1]
    ux, uy = bx - ax, by - ay
    dx, dy = xs.view(1, -1) - ax, ys.view(-1, 1) - ay
    t = ((dx * ux + dy * uy) / (ux * ux + uy * uy).clamp_min(1e-12)).clamp(0, 1)
    return ((dx - t * ux) ** 2 + (dy - t * uy) ** 2 + 1e-12).sqrt()


def coverage(points: torch.Tensor, widths: torch.Tensor, opacities: torch.Tensor, size: int | tuple[int, int],
             samples_per_span: int = SAMPLES_PER_SPAN, softness: float = SOFTNESS) -> torch.Tensor:
    """Coverage in [0, 1] of each stroke: points (N, K, P, 2), widths and opacities (N, K) ->
    (N, K, H, W). See the module docstring for the definition; each stroke is computed only in
    its bounding box grown by width / 2 + `TAIL` x softness (beyond it the sigmoid is below 6e-6
    and the coverage is set to exactly 0), so cost grows with the strokes' extent, not the image's."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if points.dim() != 4 or widths.shape != points.shape[:2] or opacities.shape != points.shape[:2]:
        raise NeuronscopeError(f"strokes need points (N, K, P, 2) and widths, opacities (N, K); got "
                               f"{tuple(points.shape)}, {tuple(widths.shape)}, {tuple(opacities.shape)}")
    if softness <= 0:
        raise NeuronscopeError(f"softness must be positive, got {softness}")
    n, k = points.shape[:2]
    polys = polyline(points, samples_per_span)
    out = []
    for j in range(n):
        for i in range(k):
            out.append(_stroke(polys[j, i], widths[j, i], opacities[j, i], (h, w), softness))
    return torch.stack(out).view(n, k, h, w)


TAIL = 12.0


def _stroke(poly: torch.Tensor, width: torch.Tensor, opacity: torch.Tensor, size: tuple[int, int],
            softness: float) -> torch.Tensor:
    h, w = size
    with torch.no_grad():
        margin = float(width) / 2 + TAIL * softness + 1
        lo = (poly.min(0).values - margin).floor().clamp_min(0)
        hi = (poly.max(0).values + margin).ceil() + 1
        x0, y0 = int(lo[0]), int(lo[1])
        x1, y1 = int(min(float(hi[0]), w)), int(min(float(hi[1]), h))
    if x0 >= x1 or y0 >= y1:  # wholly outside the image: zero, still connected to the graph
        return poly.new_zeros(h, w) + 0 * (poly.sum() + width + opacity)
    xs = torch.arange(x0, x1, dtype=poly.dtype, device=poly.device)
    ys = torch.arange(y0, y1, dtype=poly.dtype, device=poly.device)
    window = opacity * torch.sigmoid((width / 2 - distance(poly, xs, ys)) / softness)
    return F.pad(window, (x0, w - x1, y0, h - y1))


def union(cov: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Coverage of several strokes together: 1 - prod(1 - c) over `dim`."""
    return 1 - (1 - cov).prod(dim=dim)


def composite(cov: torch.Tensor, inks: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Paint strokes in order over a background: cov (N, K, H, W), inks (N, K, 3), background
    (3,) or (N, 3, H, W) -> (N, 3, H, W)."""
    n, k, h, w = cov.shape
    image = background.view(1, 3, 1, 1).expand(n, 3, h, w) if background.dim() == 1 else background
    for j in range(k):
        c = cov[:, j:j + 1]
        image = image * (1 - c) + inks[:, j, :, None, None] * c
    return image


def _inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


class StrokeImage(ImageParam):
    """K strokes per image on a plain background, as an image parameterisation.

    Parameters: control points (N, K, P, 2) in pixels, widths (softplus of a parameter), opacities
    and ink colours (sigmoids of parameters). Image i starts from seeds[i]: control points on a
    short random walk from a uniform random start, width `width`, opacity 1, dark grey ink.
    """

    def __init__(self, size, seeds: Sequence[int], n_strokes: int = 8, n_points: int = 4, width: float = 3.0,
                 background: Sequence[float] = (1.0, 1.0, 1.0), samples_per_span: int = SAMPLES_PER_SPAN,
                 softness: float = SOFTNESS):
        super().__init__(size, seeds, decorrelate=False, output="clamp")
        if n_strokes < 1 or n_points < 2 or width <= 0:
            raise NeuronscopeError(f"need n_strokes >= 1, n_points >= 2 and width > 0; got {n_strokes}, "
                                   f"{n_points}, {width}")
        h, w = self.size
        starts, steps = [], []
        for s in self.seeds:
            g = torch.Generator().manual_seed(s)
            starts.append(torch.rand(n_strokes, 1, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0]))
            steps.append(torch.randn(n_strokes, n_points - 1, 2, generator=g) * min(h, w) / 8)
        walk = torch.cat([torch.zeros(len(self.seeds), n_strokes, 1, 2), torch.stack(steps).cumsum(2)], dim=2)
        self.points = nn.Parameter(torch.stack(starts) + walk)
        shape = (len(self.seeds), n_strokes)
        self.width_raw = nn.Parameter(_inverse_softplus(torch.full(shape, float(width))))
        self.opacity_raw = nn.Parameter(torch.full(shape, 4.0))
        self.ink_raw = nn.Parameter(torch.full((*shape, 3), -2.0))
        self.register_buffer("background", torch.tensor([float(c) for c in background]))
        self.samples_per_span, self.softness = samples_per_span, softness

    @property
    def widths(self) -> torch.Tensor:
        return F.softplus(self.width_raw)

    @property
    def opacities(self) -> torch.Tensor:
        return torch.sigmoid(self.opacity_raw)

    def coverage(self) -> torch.Tensor:
        """(N, K, H, W) coverage of every stroke."""
        return coverage(self.points, self.widths, self.opacities, self.size, self.samples_per_span, self.softness)

    def forward(self) -> torch.Tensor:
        return composite(self.coverage(), torch.sigmoid(self.ink_raw), self.background)
