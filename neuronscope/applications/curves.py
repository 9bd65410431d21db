"""Synthetic images with known curves: the ground truth of the curve-extraction benchmark.

Each image holds one to three random smooth curves (a random start, heading and length, and a
curvature that varies smoothly along the curve: radii from about 12 px to straight), each drawn with
a stroke width from `widths` and a polarity (dark or light ink, slightly tinted), over a background
of one of two kinds:

- "texture": a random crop of one of scikit-image's bundled texture photographs (brick, grass,
  gravel), at a random scale, contrast and tint;
- "noise": Gaussian noise, optionally blurred, around a random grey.

The ground truth is each curve's centre line, rasterised one pixel thin (`centerline`), and its
ink coverage (`ink`). Everything follows from `seed`.

    items = curve_set(32, size=160, seed=0)          # half over textures, half over noise
    items[0].image, items[0].centerline              # (3, H, W) in [0, 1]; (H, W) bool
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch

from neuronscope.errors import NeuronscopeError

BACKGROUNDS = ("texture", "noise")
TEXTURES = ("brick", "grass", "gravel")
WIDTHS = (1.5, 2.5, 4.0)
_STEP = 0.25  # px between the points sampled along a centre line


@dataclass(frozen=True)
class CurveImage:
    """One benchmark image: the picture and its known curves."""

    image: torch.Tensor          # (3, H, W) float32 in [0, 1]
    centerline: np.ndarray       # (H, W) bool: the curves' centre lines, one pixel thin
    ink: np.ndarray              # (H, W) float: coverage of all curves' strokes, in [0, 1]
    background: str              # "texture" or "noise"
    paths: tuple[np.ndarray, ...]  # per curve, (n, 2) centre-line points (row, col), _STEP px apart
    widths: tuple[float, ...]    # per curve, stroke width in px
    polarities: tuple[int, ...]  # per curve, -1 dark ink or +1 light ink
    seed: int


def random_path(rng: np.random.Generator, size: tuple[int, int], *, min_radius: float = 12.0,
                length: tuple[float, float] = (0.6, 1.4)) -> np.ndarray:
    """Points (row, col), `_STEP` px apart, of a random smooth curve crossing an image of `size`.

    Curvature along the arc length s is c0 + sum_k a_k sin(2 pi f_k s / L + phi_k), clipped to
    1 / `min_radius`; `length` is the curve length as a fraction of the image's mean side. The
    start lies in the central half of the image; parts that leave the image are cut off."""
    h, w = size
    side = (h + w) / 2
    total = rng.uniform(*length) * side
    s = np.arange(0.0, total, _STEP)
    kmax = 1 / min_radius
    curvature = rng.uniform(-0.6, 0.6) * kmax * rng.choice([0.2, 1.0])
    for f in (1, 2, 3):
        curvature = curvature + rng.normal(0, 0.35 * kmax / f) * np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * f
                                                                         * s / total + rng.uniform(0, 2 * np.pi))
    curvature = np.clip(curvature, -kmax, kmax)
    heading = rng.uniform(0, 2 * np.pi) + np.concatenate([[0.0], np.cumsum(curvature[:-1]) * _STEP])
    start = np.array([rng.uniform(h / 4, 3 * h / 4), rng.uniform(w / 4, 3 * w / 4)])
    pts = np.cumsum(np.stack([-np.sin(heading), np.cos(heading)], 1) * _STEP, 0)
    pts += start - pts[len(pts) // 2]  # the curve's midpoint on the start point
    inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= h - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= w - 0.5)
    return _longest_run(pts, inside)


def _longest_run(pts: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The longest run of consecutive points where `keep` holds (a curve may leave and re-enter)."""
    edges = np.diff(np.concatenate([[0], keep.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if len(starts) == 0:
        return pts[:0]
    i = int(np.argmax(ends - starts))
    return pts[starts[i]:ends[i]]


def path_distance(points: np.ndarray, size: tuple[int, int], limit: float) -> np.ndarray:
    """(H, W) distance from each pixel centre to the polyline through `points` (row, col), exact
    to within `_STEP` / 2 for densely sampled points; `inf` beyond `limit` px."""
    from scipy.spatial import cKDTree

    h, w = size
    out = np.full((h, w), np.inf)
    if len(points) == 0:
        return out
    lo = np.floor(points.min(0) - limit).astype(int).clip(0)
    hi = np.ceil(points.max(0) + limit).astype(int) + 1
    rows, cols = np.mgrid[lo[0]:min(hi[0], h), lo[1]:min(hi[1], w)]
    pix = np.stack([rows.ravel(), cols.ravel()], 1).astype(np.float64)
    d, _ = cKDTree(points).query(pix, distance_upper_bound=limit)
    out[rows.ravel(), cols.ravel()] = d
    return out


def stroke_coverage(points: np.ndarray, width: float, size: tuple[int, int]) -> np.ndarray:
    """(H, W) antialiased ink coverage of a stroke of `width` px along `points`, with the
    stimuli package's pixel filter (so synthetic curves look like its stimuli)."""
    from neuronscope.stimuli.geometry import band_coverage

    d = path_distance(points, size, width / 2 + 1.5)
    d = np.where(np.isfinite(d), d, width / 2 + 2.0)
    return band_coverage(torch.from_numpy(d), torch.tensor(float(width), dtype=torch.float64)).numpy()


def rasterize_centerline(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the pixels the centre line passes nearest to, thinned to one pixel."""
    from skimage.morphology import skeletonize

    h, w = size
    mask = np.zeros((h, w), bool)
    if len(points):
        idx = np.rint(points).astype(int)
        ok = (idx[:, 0] >= 0) & (idx[:, 0] < h) & (idx[:, 1] >= 0) & (idx[:, 1] < w)
        mask[idx[ok, 0], idx[ok, 1]] = True
    return skeletonize(mask)


@cache
def _texture(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(getattr(skimage.data, name)(), np.float32) / 255.0


def background_image(rng: np.random.Generator, kind: str, size: tuple[int, int]) -> np.ndarray:
    """(3, H, W) float background of `kind` ("texture" or "noise")."""
    from scipy.ndimage import gaussian_filter, zoom

    h, w = size
    if kind == "texture":
        src = _texture(TEXTURES[rng.integers(len(TEXTURES))])
        scale = rng.uniform(0.5, 1.0)
        ch, cw = min(src.shape[0], int(np.ceil(h / scale)) + 1), min(src.shape[1], int(np.ceil(w / scale)) + 1)
        top, left = rng.integers(0, src.shape[0] - ch + 1), rng.integers(0, src.shape[1] - cw + 1)
        crop = zoom(src[top:top + ch, left:left + cw], (h / ch, w / cw), order=1)[:h, :w]
        grey = (crop - crop.mean()) * rng.uniform(0.6, 1.2) + rng.uniform(0.35, 0.65)
    elif kind == "noise":
        grey = rng.normal(0, 1, (h, w))
        sigma = rng.choice([0.0, 1.0, 2.0])
        if sigma:
            grey = gaussian_filter(grey, sigma)
        grey = grey / grey.std() * rng.uniform(0.05, 0.15) + rng.uniform(0.35, 0.65)
    else:
        raise NeuronscopeError(f"background must be one of {', '.join(BACKGROUNDS)}, got {kind!r}")
    tint = 1 + rng.uniform(-0.1, 0.1, 3)
    return np.clip(grey[None] * tint[:, None, None], 0, 1)


def curve_image(seed: int, size: int | tuple[int, int] = 160, background: str = "texture", *,
                widths=WIDTHS, curves: tuple[int, int] = (1, 3)) -> CurveImage:
    """One image of `size` with `curves[0]`..`curves[1]` random curves over a `background`, from `seed`."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if h < 16 or w < 16:
        raise NeuronscopeError(f"curve images need at least 16 x 16 px, got {h} x {w}")
    rng = np.random.default_rng(seed)
    image = background_image(rng, background, (h, w))
    paths, ws, pols = [], [], []
    ink_total = np.zeros((h, w))
    n = int(rng.integers(curves[0], curves[1] + 1))
    while len(paths) < n:
        pts = random_path(rng, (h, w))
        if len(pts) * _STEP < min(h, w) / 4:
            continue
        width, polarity = float(rng.choice(widths)), int(rng.choice([-1, 1]))
        ink = (rng.uniform(0.0, 0.2) if polarity < 0 else rng.uniform(0.8, 1.0)) + rng.uniform(-0.05, 0.05, 3)
        alpha = stroke_coverage(pts, width, (h, w))
        image = image + (np.clip(ink, 0, 1)[:, None, None] - image) * alpha[None]
        ink_total = np.maximum(ink_total, alpha)
        paths.append(pts)
        ws.append(width)
        pols.append(polarity)
    center = np.zeros((h, w), bool)
    for pts in paths:
        center |= rasterize_centerline(pts, (h, w))
    return CurveImage(torch.from_numpy(np.clip(image, 0, 1).astype(np.float32)), center, ink_total, background,
                      tuple(paths), tuple(ws), tuple(pols), seed)


def curve_set(n: int, size: int | tuple[int, int] = 160, seed: int = 0, backgrounds=BACKGROUNDS, *,
              widths=WIDTHS) -> list[CurveImage]:
    """`n` curve images, background kinds in turn; image i uses seed `seed * 100003 + i`."""
    if n < 1:
        raise NeuronscopeError(f"need at least one image, got {n}")
    for kind in backgrounds:
        if kind not in BACKGROUNDS:
            raise NeuronscopeError(f"background must be one of {', '.join(BACKGROUNDS)}, got {kind!r}")
    return [curve_image(seed * 100003 + i, size, backgrounds[i % len(backgrounds)], widths=widths) for i in range(n)]
