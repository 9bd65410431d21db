"""The curve-extraction benchmark: maps scored against known centre lines, beside Canny and a
plain gradient magnitude, on the same synthetic images (`curves.curve_set`).

Scoring (the same for every method, so that it flatters none):

1. Thin: a map is thinned by non-maximum suppression across its ridges (`nms`): a pixel survives
   if it is at least as large as the (smoothed, `NMS_SIGMA`) map one pixel away on both sides
   along the ridge's normal, taken from the map's structure tensor. Canny thins itself.
2. Match: thinned pixels above a threshold (thinned again morphologically: NMS leaves diagonals
   two pixels wide) are matched one-to-one to ground-truth centre-line
   pixels no more than `tolerance` px away (a maximum bipartite matching, as in the BSDS
   benchmark): a second response beside a matched one (the two edges of a thick stroke) is a
   false positive. precision = matched / detected, recall = matched / centre-line pixels.
3. ODS: the counts are summed over all images and F = 2PR / (P + R) is taken at the best single
   threshold for the whole set (for Canny and the gradient also at the best smoothing sigma and,
   for Canny, the best low/high ratio).

Maps are normalised per image to [0, 1] by their maximum before thresholding (Canny's
thresholds are absolute, on its own gradient magnitude, swept over a grid).

Canny and the gradient magnitude find edges, two per stroke (for the widest strokes, at the
tolerance's limit from the centre line); a third reference, the local contrast |luma - blurred
luma| (`local_contrast`, a ridge detector with no network), finds the centre lines themselves and
shows what the benchmark rewards without any knowledge of curves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuronscope.errors import NeuronscopeError

NMS_SIGMA = 1.0
TOLERANCE = 2.0
SIGMAS = (1.0, 1.5, 2.0, 3.0)
CANNY_RATIOS = (0.4, 0.7)
CONTRAST_SIGMAS = (2.0, 4.0, 8.0)
THRESHOLDS = np.linspace(0.02, 0.98, 49)


def nms(curve_map: np.ndarray, sigma: float = NMS_SIGMA) -> np.ndarray:
    """Non-maximum suppression across ridges: the map where it is a local maximum along the
    normal of its ridge (the dominant orientation of the map's structure tensor), else 0."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    m = np.asarray(curve_map, np.float64)
    s = gaussian_filter(m, sigma) if sigma > 0 else m
    gr, gc = gaussian_filter(m, 1.0, order=(1, 0)), gaussian_filter(m, 1.0, order=(0, 1))
    # the ridge's normal: dominant orientation of the structure tensor (gradients on both flanks of a
    # ridge point across it)
    jrr, jcc, jrc = (gaussian_filter(a, 2.0) for a in (gr * gr, gc * gc, gr * gc))
    angle = 0.5 * np.arctan2(2 * jrc, jrr - jcc)
    nr, nc = np.cos(angle), np.sin(angle)
    rows, cols = np.mgrid[0:m.shape[0], 0:m.shape[1]].astype(np.float64)
    a = map_coordinates(s, [rows + nr, cols + nc], order=1, mode="nearest")
    b = map_coordinates(s, [rows - nr, cols - nc], order=1, mode="nearest")
    keep = (s >= a) & (s >= b) & (s > 0)
    return np.where(keep, s, 0.0)


def match(detected: np.ndarray, truth: np.ndarray, tolerance: float = TOLERANCE) -> int:
    """Size of a maximum one-to-one matching of `detected` pixels to `truth` pixels (both (H, W)
    bool) at most `tolerance` px apart."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching
    from scipy.spatial import cKDTree

    d, t = np.argwhere(detected), np.argwhere(truth)
    if len(d) == 0 or len(t) == 0:
        return 0
    near = cKDTree(t).query_ball_point(d, tolerance + 1e-9)
    lengths = np.fromiter((len(n) for n in near), int, len(near))
    if lengths.sum() == 0:
        return 0
    indices = np.concatenate([np.asarray(n, int) for n in near])
    graph = csr_matrix((np.ones(len(indices), np.int8), indices, np.concatenate([[0], np.cumsum(lengths)])),
                       shape=(len(d), len(t)))
    return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


@dataclass
class Counts:
    """Summed counts over images at each threshold: matched, detected, centre-line pixels."""

    thresholds: np.ndarray
    matched: np.ndarray
    detected: np.ndarray
    truth: int

    def prf(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(self.detected > 0, self.matched / np.maximum(self.detected, 1), 0.0)
            r = self.matched / max(self.truth, 1)
            f = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-12), 0.0)
        return p, r, f

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.thresholds, self.matched + other.matched, self.detected + other.detected,
                      self.truth + other.truth)


def count(thinned: np.ndarray, truth: np.ndarray, thresholds=THRESHOLDS, tolerance: float = TOLERANCE) -> Counts:
    """Counts for one thinned map (values compared with each threshold) against one centre line."""
    return count_binary([thinned > t for t in thresholds], truth, tolerance, thresholds)


def count_binary(detections: list[np.ndarray], truth: np.ndarray, tolerance: float = TOLERANCE,
                 thresholds=None) -> Counts:
    """Counts for a list of binary detections (one per threshold, e.g. Canny's), each first thinned
    to one pixel (morphological thinning, as in the BSDS benchmark: NMS leaves two-pixel-wide
    diagonals)."""
    from skimage.morphology import thin

    thresholds = np.arange(len(detections), dtype=np.float64) if thresholds is None else np.asarray(thresholds)
    detections = [thin(d) for d in detections]
    return Counts(thresholds, np.array([match(d, truth, tolerance) for d in detections]),
                  np.array([int(d.sum()) for d in detections]), int(truth.sum()))


@dataclass(frozen=True)
class Score:
    """One method's ODS result on a set of images."""

    method: str
    precision: float
    recall: float
    f: float
    threshold: float
    setting: str = ""   # the chosen sigma / ratio, where the method has one

    def row(self) -> str:
        return f"{self.precision:.3f} | {self.recall:.3f} | {self.f:.3f}"


def ods(counts: Counts, method: str, setting: str = "") -> Score:
    """The best single threshold over the summed counts."""
    p, r, f = counts.prf()
    i = int(np.argmax(f))
    return Score(method, float(p[i]), float(r[i]), float(f[i]), float(counts.thresholds[i]), setting)


def best_of(options: dict[str, Counts], method: str) -> Score:
    """ODS over several settings (sigma, ratio): the best setting's best threshold."""
    scores = [ods(c, method, s) for s, c in options.items()]
    return max(scores, key=lambda s: s.f)


def comb_share(curve_map, item, band: float = 8.0, tolerance: float = TOLERANCE) -> tuple[float, float]:
    """Combing in a map: (perpendicular, parallel), the shares of the map's total mass lying off the
    item's curves (more than `tolerance`, at most `band` px from a centre line) in streaks running
    perpendicular to the nearest curve, and parallel to it. A pixel's streak direction is the map's
    local orientation (its structure tensor: gradients across a streak); its mass is split by
    cos^2 / sin^2 of the angle between the map's gradient and the curve's tangent."""
    from scipy.ndimage import gaussian_filter
    from scipy.spatial import cKDTree

    m = np.asarray(curve_map, np.float64)
    total = m.sum()
    if not total > 0:
        raise NeuronscopeError("the map is zero: no mass to share")
    points = np.concatenate(item.paths)
    tangents = np.concatenate([np.gradient(p, axis=0) for p in item.paths])
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True) + 1e-12
    rows, cols = np.mgrid[0:m.shape[0], 0:m.shape[1]]
    d, nearest = cKDTree(points).query(np.stack([rows.ravel(), cols.ravel()], 1), distance_upper_bound=band)
    off = (d > tolerance) & np.isfinite(d)
    gr, gc = gaussian_filter(m, 1.0, order=(1, 0)), gaussian_filter(m, 1.0, order=(0, 1))
    jrr, jcc, jrc = (gaussian_filter(a, 2.0) for a in (gr * gr, gc * gc, gr * gc))
    angle = (0.5 * np.arctan2(2 * jrc, jrr - jcc)).ravel()[off]     # the map's gradient direction
    t = tangents[nearest[off]]
    cos2 = (np.cos(angle) * t[:, 0] + np.sin(angle) * t[:, 1]) ** 2
    mass = m.ravel()[off] / total
    return float((mass * cos2).sum()), float((mass * (1 - cos2)).sum())


def grey(image) -> np.ndarray:
    """Luma (BT.601) of a (3, H, W) image as a float64 (H, W) array."""
    a = np.asarray(image, np.float64)
    return 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2]


def gradient_magnitude(image, sigma: float) -> np.ndarray:
    """Gaussian-derivative gradient magnitude of the image's luma, normalised to [0, 1]."""
    from scipy.ndimage import gaussian_gradient_magnitude

    g = gaussian_gradient_magnitude(grey(image), sigma)
    return g / g.max() if g.max() > 0 else g


def local_contrast(image, sigma: float) -> np.ndarray:
    """|luma - luma blurred with `sigma`|, normalised to [0, 1]: a ridge (centre-line) detector
    without any network, the reference for what local contrast alone finds."""
    from scipy.ndimage import gaussian_filter

    g = grey(image)
    c = np.abs(g - gaussian_filter(g, sigma))
    return c / c.max() if c.max() > 0 else c


def canny_sweep(image, sigma: float, ratio: float, highs: np.ndarray) -> list[np.ndarray]:
    """scikit-image Canny edges of the image's luma at `sigma`, for each high threshold in `highs`
    (low = `ratio` x high)."""
    from skimage.feature import canny

    g = grey(image)
    return [canny(g, sigma=sigma, low_threshold=ratio * h, high_threshold=h) for h in highs]


def _canny_highs(images, sigma: float, n: int = 25) -> np.ndarray:
    """A geometric grid of Canny high thresholds up to the largest Sobel magnitude in the set."""
    from scipy.ndimage import gaussian_filter, sobel

    top = 0.0
    for image in images:
        s = gaussian_filter(grey(image), sigma)
        top = max(top, float(np.hypot(sobel(s, 0), sobel(s, 1)).max()))
    return top * np.geomspace(0.01, 1.0, n)


@dataclass
class Benchmark:
    """Per method and background kind: Score (ODS P/R/F); `maps` the curve maps, if kept."""

    scores: dict[str, dict[str, Score]]       # kind ("all", "texture", "noise") -> method -> Score
    images: int
    size: tuple[int, int]
    tolerance: float
    notes: dict = field(default_factory=dict)

    def table(self) -> str:
        """A markdown table: one row per method and background kind."""
        lines = ["| background | method | precision | recall | F (ODS) | setting |",
                 "| --- | --- | --- | --- | --- | --- |"]
        for kind, by_method in self.scores.items():
            for s in by_method.values():
                lines.append(f"| {kind} | {s.method} | {s.row()} | {s.setting} |")
        return "\n".join(lines)

    def summary(self) -> str:
        a = self.scores["all"]
        if "canny" not in a:
            return f"extraction_f={a['extraction'].f:.3f}"
        return (f"extraction_f={a['extraction'].f:.3f} canny_f={a['canny'].f:.3f} "
                f"gradient_f={a['gradient'].f:.3f}")

    def save(self, out_dir) -> list:
        """Write bench.json (everything) and bench.md (the table) to `out_dir`; returns their paths."""
        import json
        from pathlib import Path

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bench.json").write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        (out / "bench.md").write_text(self.table() + "\n")
        return [out / "bench.json", out / "bench.md"]

    def to_dict(self) -> dict:
        return {"images": self.images, "size": list(self.size), "tolerance": self.tolerance, "notes": self.notes,
                "scores": {k: {m: vars(s) for m, s in v.items()} for k, v in self.scores.items()}}


def score_methods(items, maps: list[np.ndarray], *, tolerance: float = TOLERANCE, sigmas=SIGMAS,
                  ratios=CANNY_RATIOS, name: str = "extraction", baselines: bool = True) -> dict[str, dict[str, Score]]:
    """ODS scores of the given curve `maps` (one per item, any non-negative scale) and, with
    `baselines`, of Canny, of the thinned gradient magnitude and of the thinned local contrast
    (`local_contrast`), overall and per background kind."""
    if len(items) != len(maps) or not items:
        raise NeuronscopeError("need one map per image, and at least one image")
    kinds = sorted({it.background for it in items})
    groups = {"all": list(range(len(items))), **{k: [i for i, it in enumerate(items) if it.background == k]
                                                  for k in kinds}}
    ours = [count(nms(_unit(m)), it.centerline, tolerance=tolerance) for m, it in zip(maps, items)]
    if not baselines:
        return {kind: {name: ods(_sum([ours[i] for i in idx]), name)} for kind, idx in groups.items()}
    grads = {s: [count(nms(gradient_magnitude(it.image, s)), it.centerline, tolerance=tolerance) for it in items]
             for s in sigmas}
    contrasts = {s: [count(nms(local_contrast(it.image, s)), it.centerline, tolerance=tolerance) for it in items]
                 for s in CONTRAST_SIGMAS}
    cannys = {}
    for s in sigmas:
        highs = _canny_highs([it.image for it in items], s)
        for r in ratios:
            cannys[f"sigma={s:g} low/high={r:g}"] = [
                count_binary(canny_sweep(it.image, s, r, highs), it.centerline, tolerance, highs) for it in items]
    out = {}
    for kind, idx in groups.items():
        out[kind] = {name: ods(_sum([ours[i] for i in idx]), name),
                     "canny": best_of({k: _sum([v[i] for i in idx]) for k, v in cannys.items()}, "canny"),
                     "gradient": best_of({f"sigma={s:g}": _sum([v[i] for i in idx]) for s, v in grads.items()},
                                         "gradient"),
                     "contrast": best_of({f"sigma={s:g}": _sum([v[i] for i in idx]) for s, v in contrasts.items()},
                                         "contrast")}
    return out


def _sum(counts: list[Counts]) -> Counts:
    total = counts[0]
    for c in counts[1:]:
        total = total + c
    return total


def _unit(m) -> np.ndarray:
    m = np.asarray(m, np.float64)
    return m / m.max() if m.max() > 0 else m


def benchmark(model, items=None, *, layer: str | None = None, units=None, method: str | None = None,
              n: int = 32, size: int = 160, seed: int = 0, tolerance: float = TOLERANCE,
              progress=None, baselines: bool = True) -> Benchmark:
    """Score `extract_curves` on `items` (default: `curve_set(n, size, seed)`) against Canny and
    the gradient magnitude (see the module docstring); `notes` holds the maps' combing
    (`comb_share`, averaged over images) beside that of the gradient magnitude (sigma 1)."""
    from neuronscope.applications.curves import curve_set
    from neuronscope.applications.extract import DEFAULT_METHOD, curve_attribution

    items = curve_set(n, size, seed) if items is None else list(items)
    method = method or DEFAULT_METHOD
    maps = []
    for it in items:
        maps.append(curve_attribution(model, it.image, layer, units, method=method).numpy())
        if progress:
            progress(len(maps), len(items))
    scores = score_methods(items, maps, tolerance=tolerance, baselines=baselines)
    hw = tuple(items[0].image.shape[-2:])
    comb = np.mean([comb_share(m, it) for m, it in zip(maps, items)], axis=0)
    reference = np.mean([comb_share(gradient_magnitude(it.image, 1.0), it) for it in items], axis=0)
    notes = {"method": method, "model": model.name, "layer": layer or model.default_layer,
             "comb_perpendicular": round(float(comb[0]), 4), "comb_parallel": round(float(comb[1]), 4),
             "gradient_comb_perpendicular": round(float(reference[0]), 4),
             "gradient_comb_parallel": round(float(reference[1]), 4)}
    return Benchmark(scores, len(items), hw, tolerance, notes)
