"""Curve tracing with differentiable splines: the curve units hand back their curves as equations.

    splines = trace_curves(model, image, n_curves=4)       # list[Spline], best first
    splines[0].control_points                              # (P, 2) pixels: x right, y down
    splines[0].sample(100)                                 # (100, 2) points along it
    save_tracing(splines, image, "out/")                   # splines.json, splines.svg, overlay.png

Objective: the target is the image's curve map T (`extract_curves`: attribution of the curve
family's activation to the pixels, in [0, 1]), or any (H, W) map given as `target`. K strokes are
rendered with `splines.coverage`, joined as U = 1 - prod(1 - c_k), and their control points and
opacities (and widths, with `width=None`) minimise

    mean((U - T')^2) + occlusion * mean(U * O) + smooth * bending + even * spacing

with T' = T blurred (Gaussian, `sigma` = 1.5 px: attribution maps are speckled at the pixel level
and their dotted curves would break into fragments) and scaled so its 99.5th percentile is 1 (a
few hot pixels do not set the scale), O the occluder map (a mask, or the curve map of other units,
scaled the same way), "bending" the mean squared second difference of the control points over the
squared mean spacing and "spacing" the variance of the spacing over its squared mean (both
scale-free, weighted by U's mean like the data term). The occlusion term is what stops a spline
bridging two curve pieces through an occluder. Strokes are 3 px wide by default: a learnt width
spreads to the attribution's halo (10-12 px around 2.5 px curves) and the centre line then wanders.

Initialisation (not random scatter): T' is thresholded (Otsu, at least `min_threshold`), thinned
to a skeleton, and the longest geodesic paths through the skeleton are taken greedily by their
summed T' (each taken path is removed with a margin before the next is sought); each path gives
one spline with `n_points` control points evenly spaced along it. With restarts > 1 the control
points are also jittered (seeded) and the run with the lowest loss is kept; from the skeleton one
run already lands on the curve, so the default is one. After optimising, splines that faded
(opacity below `min_opacity`) or shrank below `min_length` px are dropped; if none is left the
result is an error. Splines are returned best first (mean T' along them times their length).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuronscope.applications import splines as S
from neuronscope.errors import NeuronscopeError

SIGMA = 1.5  # px; attribution maps are speckled at the pixel level, the blur joins the speckle into strokes
_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))


@dataclass
class Spline:
    """One traced curve: a Catmull-Rom chain through `control_points` ((P, 2), pixels, x right,
    y down, origin at the top-left pixel's centre), drawn `width` px wide at `opacity`; `score` is
    the mean target value along it."""

    control_points: np.ndarray
    width: float = 2.0
    opacity: float = 1.0
    score: float = float("nan")
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.control_points = np.asarray(self.control_points, dtype=np.float64)
        if self.control_points.ndim != 2 or self.control_points.shape[1] != 2 or len(self.control_points) < 2:
            raise NeuronscopeError(f"a spline needs (P >= 2, 2) control points, got {self.control_points.shape}")

    def polyline(self, samples_per_span: int = 16) -> np.ndarray:
        """Dense (V, 2) points along the curve."""
        return S.polyline(torch.from_numpy(self.control_points), samples_per_span).numpy()

    @property
    def length(self) -> float:
        return float(S.polyline_length(torch.from_numpy(self.polyline(64))))

    def sample(self, n: int) -> np.ndarray:
        """(n, 2) points along the curve, evenly spaced by arc length, from its first to its last point."""
        if n < 2:
            raise NeuronscopeError(f"sample needs n >= 2, got {n}")
        poly = self.polyline(64)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(poly, axis=0), axis=1))])
        s = np.linspace(0, arc[-1], n)
        return np.stack([np.interp(s, arc, poly[:, 0]), np.interp(s, arc, poly[:, 1])], axis=1)

    def svg_path(self) -> str:
        """The exact curve as an SVG path of cubic Beziers."""
        spans = S.bezier_spans(torch.from_numpy(self.control_points)).numpy()
        parts = [f"M {spans[0, 0, 0]:.2f} {spans[0, 0, 1]:.2f}"]
        parts += [" ".join(["C"] + [f"{x:.2f} {y:.2f}" for x, y in span[1:]]) for span in spans]
        return " ".join(parts)

    def to_dict(self) -> dict:
        return {"control_points": np.round(self.control_points, 3).tolist(), "width": round(self.width, 3),
                "opacity": round(self.opacity, 3), "score": round(self.score, 4), "length": round(self.length, 2),
                "kind": "catmull-rom (uniform; ends reflected)", **({"notes": self.notes} if self.notes else {})}


def _as_map(values, size: tuple[int, int], name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if t.dim() == 3 and t.shape[0] in (1, 3):
        t = t.mean(0)
    if t.shape != size:
        raise NeuronscopeError(f"{name} must be {size[0]} x {size[1]} like the image, got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise NeuronscopeError(f"{name} has non-finite values")
    return t.clamp_min(0)


def normalise(t: torch.Tensor, percentile: float = 99.5) -> torch.Tensor:
    """Scale a non-negative map so its `percentile` is 1, clipped to [0, 1]; zero maps are refused."""
    top = float(torch.quantile(t.flatten().double(), percentile / 100))
    if not top > 0:
        top = float(t.max())
    if not top > 0:
        raise NeuronscopeError("the target map is zero everywhere: nothing to trace")
    return (t / top).clamp(0, 1)


def blur(values, sigma: float = 2.0) -> np.ndarray:
    """A map blurred with a Gaussian of `sigma` px (attribution maps of objects are speckled;
    blurring joins the speckle into the outline before tracing)."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.asarray(values, dtype=np.float32), sigma)


def skeleton_paths(target: np.ndarray, n: int, threshold: float | None = None, min_threshold: float = 0.2,
                   min_length: float = 8.0, margin: float = 2.0) -> list[np.ndarray]:
    """Up to n (L, 2) paths (x, y) along the thinned, thresholded map, longest-and-strongest first."""
    from scipy.ndimage import binary_dilation
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components, dijkstra
    from skimage.filters import threshold_otsu
    from skimage.morphology import skeletonize

    level = threshold if threshold is not None else max(min_threshold, float(threshold_otsu(target)))
    skeleton = skeletonize(target > level)
    paths: list[np.ndarray] = []
    h, w = target.shape
    while len(paths) < n and skeleton.any():
        ys, xs = np.nonzero(skeleton)
        index = -np.ones((h, w), dtype=np.int64)
        index[ys, xs] = np.arange(len(ys))
        rows, cols, lengths = [], [], []
        for dy, dx in _OFFSETS:
            ny, nx = ys + dy, xs + dx
            ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            ok[ok] = index[ny[ok], nx[ok]] >= 0
            rows.append(np.flatnonzero(ok))
            cols.append(index[ny[ok], nx[ok]])
            lengths.append(np.full(ok.sum(), np.hypot(dy, dx)))
        graph = coo_matrix((np.concatenate(lengths), (np.concatenate(rows), np.concatenate(cols))),
                           shape=(len(ys), len(ys))).tocsr()
        count, labels = connected_components(graph, directed=False)
        best, best_score = None, 0.0
        for c in range(count):
            members = np.flatnonzero(labels == c)
            if len(members) < 2:
                continue
            d0 = dijkstra(graph, indices=members[0], limit=np.inf)
            a = members[np.argmax(np.where(np.isfinite(d0[members]), d0[members], -1))]
            d, pred = dijkstra(graph, indices=a, return_predecessors=True)
            b = members[np.argmax(np.where(np.isfinite(d[members]), d[members], -1))]
            if d[b] < min_length:
                continue
            chain = [b]
            while chain[-1] != a:
                chain.append(pred[chain[-1]])
            score = float(target[ys[chain], xs[chain]].sum())
            if score > best_score:
                best, best_score = np.asarray(chain), score
        if best is None:
            break
        paths.append(np.stack([xs[best], ys[best]], axis=1).astype(np.float64))
        taken = np.zeros_like(skeleton)
        taken[ys[best], xs[best]] = True
        skeleton &= ~binary_dilation(taken, iterations=max(1, round(margin)))
    return paths


def resample(path: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) points evenly spaced by arc length along a (L, 2) polyline."""
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
    s = np.linspace(0, arc[-1], n)
    return np.stack([np.interp(s, arc, path[:, 0]), np.interp(s, arc, path[:, 1])], axis=1)


@dataclass
class Fit:
    """The state of one optimisation run (tensors for K strokes) and its final loss."""

    points: torch.Tensor
    widths: torch.Tensor
    opacities: torch.Tensor
    loss: float
    history: list[float]


def fit_splines(target: torch.Tensor, init: torch.Tensor, width: float, occluder: torch.Tensor | None = None,
                steps: int = 150, lr: float = 0.5, occlusion: float = 10.0, smooth: float = 0.05,
                even: float = 0.05, softness: float = S.SOFTNESS, learn_width: bool = True) -> Fit:
    """Optimise K strokes starting at `init` (K, P, 2) so their joint coverage matches `target`
    ((H, W) in [0, 1]); see the module docstring for the loss."""
    h, w = target.shape
    points = init.clone().float().unsqueeze(0).requires_grad_(True)
    k = init.shape[0]
    width_raw = S._inverse_softplus(torch.full((1, k), float(width))).requires_grad_(learn_width)
    opacity_raw = torch.full((1, k), 2.0, requires_grad=True)
    shape = [width_raw, opacity_raw] if learn_width else [opacity_raw]
    optimiser = torch.optim.Adam([{"params": [points], "lr": lr}, {"params": shape, "lr": 0.05}])
    history = []

    def loss_of():
        widths, opacities = F.softplus(width_raw), torch.sigmoid(opacity_raw)
        u = S.union(S.coverage(points, widths, opacities, (h, w), softness=softness))[0]
        loss = ((u - target) ** 2).mean()
        if occluder is not None:
            loss = loss + occlusion * (u * occluder).mean()
        diffs = points[0, :, 1:] - points[0, :, :-1]
        spacing = diffs.norm(dim=-1)
        mean = spacing.mean(-1, keepdim=True).clamp_min(1e-3)
        if points.shape[2] > 2:
            bend = ((diffs[:, 1:] - diffs[:, :-1]) ** 2).sum(-1) / mean ** 2
            loss = loss + smooth * bend.mean() * u.mean()
        return loss + even * (spacing / mean).var(-1, unbiased=False).mean() * u.mean()

    for _ in range(steps):
        loss = loss_of()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
    with torch.no_grad():
        final = float(loss_of())
    return Fit(points.detach()[0], F.softplus(width_raw).detach()[0], torch.sigmoid(opacity_raw).detach()[0], final,
               history)


def trace_map(target, n_curves: int = 4, seed: int = 0, *, occluder=None, n_points: int = 6, steps: int = 150,
              restarts: int = 1, lr: float = 0.5, occlusion: float = 10.0, threshold: float | None = None,
              min_length: float = 8.0, sigma: float = SIGMA, min_opacity: float = 0.5, smooth: float = 0.05,
              even: float = 0.05, width: float | None = 3.0) -> list[Spline]:
    """Trace the curves of an (H, W) non-negative map (see the module docstring); `occluder` is an
    (H, W) map or mask of regions the splines must not cross; `sigma`: Gaussian blur (px) of the
    target first (0: none)."""
    t = torch.as_tensor(np.asarray(target, dtype=np.float32))
    size = tuple(t.shape)
    if t.dim() != 2 or min(size) < 8:
        raise NeuronscopeError(f"the target must be an (H, W) map of at least 8 x 8, got {tuple(t.shape)}")
    if n_curves < 1 or n_points < 2 or steps < 0 or restarts < 1:
        raise NeuronscopeError(f"need n_curves >= 1, n_points >= 2, steps >= 0, restarts >= 1; got {n_curves}, "
                               f"{n_points}, {steps}, {restarts}")
    t = _as_map(t, size, "the target")
    if sigma > 0:
        t = torch.from_numpy(blur(t, sigma))
    t = normalise(t)
    occ = None if occluder is None else normalise(_as_map(occluder, size, "the occluder"))
    tn = t.numpy()
    if occ is not None:  # skeleton paths stop at the occluder
        tn = tn * (occ.numpy() < 0.5)
    paths = skeleton_paths(tn, n_curves, threshold, min_length=min_length)
    if not paths:
        raise NeuronscopeError("no curve found: the thresholded map has no path of "
                               f"{min_length:g} px or more (try a lower threshold)")
    init = torch.from_numpy(np.stack([resample(p, n_points) for p in paths])).float()
    mask_area = float((t > 0.5).sum())
    skeleton_length = sum(float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) for p in paths)
    learn_width = width is None
    if width is None:
        width = float(np.clip(mask_area / max(skeleton_length, 1.0), 1.5, 8.0))
    best = None
    generator = torch.Generator().manual_seed(seed)
    for r in range(restarts):
        start = init if r == 0 else init + torch.randn(init.shape, generator=generator) * 2.0
        fit = fit_splines(t, start, width, occ, steps=steps, lr=lr, occlusion=occlusion, smooth=smooth, even=even,
                          learn_width=learn_width)
        if best is None or fit.loss < best.loss:
            best = fit
    out = []
    for j in range(len(paths)):
        spline = Spline(best.points[j].double().numpy(), float(best.widths[j]), float(best.opacities[j]))
        if spline.opacity < min_opacity or spline.length < min_length:
            continue
        pts = spline.sample(max(2, int(spline.length)))
        spline.score = float(F.grid_sample(t[None, None], _grid(pts, size), align_corners=True).mean())
        out.append(spline)
    if not out:
        raise NeuronscopeError("every traced spline faded or shrank away: no curve found")
    out.sort(key=lambda s: -s.score * s.length)
    return out


def _grid(points: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """(1, 1, n, 2) grid_sample coordinates of pixel points (x, y) for align_corners=True."""
    h, w = size
    g = torch.from_numpy(points).float()
    g = torch.stack([g[:, 0] / max(w - 1, 1) * 2 - 1, g[:, 1] / max(h - 1, 1) * 2 - 1], dim=-1)
    return g.view(1, 1, -1, 2)


def trace_curves(model, image: torch.Tensor, n_curves: int = 4, seed: int = 0, *, layer: str | None = None,
                 units=None, occlude=None, occlude_units=None, target=None, **options) -> list[Spline]:
    """Trace up to `n_curves` curves of a (3, H, W) image in [0, 1] as splines, best first.

    The target is the curve map `extract_curves(model, image, layer, units)` (or `target`, an
    (H, W) map). `occlude`: an (H, W) mask or map of regions the splines must not cross;
    `occlude_units`: units of `layer` whose curve map (attribution to them) is that region.
    `options`: see `trace_map` (n_points, steps, restarts, lr, occlusion, threshold, min_length)."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise NeuronscopeError(f"image must be a (3, H, W) tensor, got {getattr(image, 'shape', type(image))}")
    if target is None:
        from neuronscope.applications.extract import extract_curves

        target = extract_curves(model, image, layer, units)
    occluder = occlude
    if occlude_units is not None:
        from neuronscope.applications.extract import extract_curves

        other = extract_curves(model, image, layer, occlude_units)
        occluder = other if occluder is None else torch.maximum(other, _as_map(occluder, tuple(image.shape[-2:]),
                                                                                "the occluder"))
    return trace_map(target, n_curves, seed, occluder=occluder, **options)


PALETTE = ((0.95, 0.20, 0.15), (0.15, 0.55, 0.95), (0.20, 0.80, 0.25), (1.00, 0.75, 0.05), (0.75, 0.30, 0.95),
           (0.05, 0.85, 0.85), (1.00, 0.45, 0.75), (0.65, 0.45, 0.20))


def overlay(image: torch.Tensor, splines: list[Spline], dim: float = 0.55) -> torch.Tensor:
    """(3, H, W) the image, dimmed, with each spline drawn in its own colour by the stroke renderer."""
    h, w = image.shape[-2:]
    base = image.float() * dim + (1 - dim) * 0.5
    if not splines:
        return base
    p = max(len(s.control_points) for s in splines)
    pts = torch.stack([torch.from_numpy(resample(s.polyline(), p)) if len(s.control_points) != p
                       else torch.from_numpy(s.control_points) for s in splines]).float()
    widths = torch.tensor([[max(1.5, s.width)] for s in splines]).T
    cov = S.coverage(pts[None], widths, torch.ones_like(widths), (h, w))
    inks = torch.tensor([PALETTE[i % len(PALETTE)] for i in range(len(splines))]).float()[None]
    return S.composite(cov, inks, base[None])[0]


def svg(splines: list[Spline], size: tuple[int, int], image_href: str | None = None) -> str:
    """An SVG document of the splines over an image of `size` (h, w), optionally with the image."""
    h, w = size
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'width="{w}" height="{h}" viewBox="-0.5 -0.5 {w} {h}">')
    lines = [head]
    if image_href:
        lines.append(f'<image xlink:href="{image_href}" x="-0.5" y="-0.5" width="{w}" height="{h}"/>')
    for i, s in enumerate(splines):
        r, g, b = (int(255 * c) for c in PALETTE[i % len(PALETTE)])
        lines.append(f'<path d="{s.svg_path()}" fill="none" stroke="rgb({r},{g},{b})" '
                     f'stroke-width="{max(1.0, s.width):.2f}" stroke-linecap="round" '
                     f'stroke-opacity="{s.opacity:.2f}"/>')
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def save_tracing(splines: list[Spline], image: torch.Tensor, out_dir, stem: str = "splines",
                 target: torch.Tensor | None = None) -> list[Path]:
    """Write `<stem>.json` (control points), `<stem>.svg` and `<stem>_overlay.png` (and the
    target map as `<stem>_target.png` when given)."""
    from neuronscope.stimuli.tiling import save_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    h, w = image.shape[-2:]
    paths = [out / f"{stem}.json", out / f"{stem}.svg", out / f"{stem}_overlay.png"]
    paths[0].write_text(json.dumps({"image_size": [h, w], "coordinates": "pixels; x right, y down, origin at the "
                                    "top-left pixel's centre", "splines": [s.to_dict() for s in splines]},
                                   indent=1) + "\n")
    paths[1].write_text(svg(splines, (h, w)))
    save_grid(overlay(image, splines)[None], paths[2], padding=0)
    if target is not None:
        paths.append(out / f"{stem}_target.png")
        t = torch.as_tensor(np.asarray(target, dtype=np.float32))
        save_grid((t / t.max().clamp_min(1e-12)).expand(1, 3, -1, -1), paths[3], padding=0)
    return paths


def plot_tracing(image: torch.Tensor, splines: list[Spline], target=None, title: str | None = None):
    """A matplotlib Figure: the image, the target map (when given) and the splines over the image."""
    from matplotlib.figure import Figure

    from neuronscope.applications.figures import image_grid_done

    panels = [("image", image.permute(1, 2, 0).numpy())]
    if target is not None:
        t = np.asarray(target, dtype=np.float64)
        panels.append(("curve map (target)", t / max(t.max(), 1e-12)))
    panels.append((f"{len(splines)} spline(s)", overlay(image, splines).permute(1, 2, 0).numpy()))
    h, w = image.shape[-2:]
    fig = Figure(figsize=(3.2 * len(panels), 3.2 * h / w + (0.4 if title else 0.2)), dpi=110)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (name, values) in zip(axes, panels):
        ax.imshow(values, cmap="gray" if values.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(name, fontsize=9)
    return image_grid_done(fig, axes, title)


def score_tracing(splines: list[Spline], curves: list[np.ndarray], tolerance: float = 3.0,
                  step: float = 0.5) -> dict:
    """How well splines trace known curves ((L, 2) points (x, y) each, densely sampled):
    `distance`: mean distance from points along the splines (every `step` px) to the nearest
    true curve; `near`: share of those points within `tolerance` px of one; `covered`: per true
    curve, the share of its points within `tolerance` px of a spline."""
    from scipy.spatial import cKDTree

    if not curves:
        raise NeuronscopeError("no true curves to score against")
    truth = cKDTree(np.concatenate(curves))
    traced = [s.sample(max(2, int(s.length / step))) for s in splines]
    if not traced:
        return {"distance": float("nan"), "near": 0.0, "covered": [0.0] * len(curves)}
    d, _ = truth.query(np.concatenate(traced))
    tree = cKDTree(np.concatenate(traced))
    covered = [float((tree.query(c)[0] <= tolerance).mean()) for c in curves]
    return {"distance": float(d.mean()), "near": float((d <= tolerance).mean()), "covered": covered}


@dataclass
class GroupTrace:
    """A neuron group found in an image and its outline: `maps` (k, h, w) every group's map on
    the layer's grid, `region` (H, W) the traced group's map upsampled and scaled to max 1,
    `target` the map the splines were fitted to, and the splines (best first)."""

    group: int
    maps: np.ndarray
    region: np.ndarray
    target: np.ndarray
    splines: list[Spline]


def trace_group(model, groups, group, image: torch.Tensor, n_curves: int = 6, seed: int = 0, *,
                layer: str | None = None, units=None, inside: float = 0.25, **options) -> GroupTrace:
    """Find a saved NMF group (`factorize.Groups`) in a (3, H, W) image and give its outline as
    splines: "find the butterfly and trace it".

    The group's map (`find_groups`, upsampled, scaled to max 1) is the region R. The splines are
    fitted, in one optimisation, to the image's curve map (attribution to the curve family,
    `extract_curves(model, image, layer, units)`) times R, with the rest of the image (R <
    `inside`) as the occluder, so they follow the curves of the found object and none leaves it.
    (The attribution to the group itself, `factorize.group_attribution`, was tried as the target
    first: at the layers that find objects it is a diffuse blob, and splines scribble over it.)"""
    from neuronscope.applications.extract import extract_curves
    from neuronscope.applications.factorize import find_groups, upsample

    g = groups.index(group)
    maps = find_groups(model, groups, image)
    region = upsample(maps[g:g + 1], tuple(image.shape[-2:]))[0]
    top = float(region.max())
    if not top > 0:
        raise NeuronscopeError(f"group {groups.names[g]} is not found anywhere in this image (its map is zero)")
    region = region / top
    target = extract_curves(model, image, layer, units).numpy() * region
    splines = trace_map(target, n_curves, seed, occluder=(region < inside).astype(np.float32), **options)
    return GroupTrace(g, maps, region, target, splines)
