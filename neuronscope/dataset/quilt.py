"""A quilt of a unit's dataset examples: receptive-field crops in rows by activation range, and
optionally, under each crop, where in an earlier layer its pre-activation comes from."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from neuronscope.dataset.crops import example_crop, inside_box, load_pixels, to_uint8
from neuronscope.dataset.figures import check_unit
from neuronscope.errors import NeuronscopeError
from neuronscope.figures import finish
from neuronscope.neurons import Neuron

_GAP, _TEXT = 2, 12  # pixels between tiles, and under a heatmap for its top units
_BATCH = 16  # examples per attribution pass


def plot_quilt(stats, unit: int, path=None, *, per_row: int = 8, thumb: int = 64, attribution: bool = False,
               model=None, source: str | None = None) -> Figure:
    """Receptive-field crops of the positions behind a seeded random sample of the unit's values,
    one row per activation stratum (highest first), highest values on the left. A field that
    reaches past the image's edge is shown moved inside it (`crops.inside_box`): real pixels
    only, no grey padding; the unit's position is then off the tile's centre.

    With `attribution`, each crop gets a heatmap under it: the unit's pre-activation attributed
    (`neuronscope.attribution`) to the positions of `source` (default: the previous layer) over
    the crop's area, red positive and blue negative on one scale per row (positions that do not
    feed the unit are white: zero); and the two source units with the largest attribution.
    `model` is the network the result came from (default: `load_model` of its name).
    """
    unit = check_unit(stats, unit)
    bounds = stats.strata_edges[unit]
    strata = list(enumerate(stats.samples(unit)))
    rows = [(s, sorted(ex, key=lambda e: -e.value)[:per_row]) for s, ex in reversed(strata) if ex]
    if not rows:
        raise NeuronscopeError(f"no examples stored for unit {unit}")
    stats.check_images(e.image for _, examples in rows for e in examples)
    pixels = {e.image: load_pixels(stats, e.image_id) for _, examples in rows for e in examples}
    heat = _attributions(stats, unit, rows, pixels, model, source) if attribution else None

    band = thumb + (thumb + _TEXT if heat else 0)
    mosaic = np.full((len(rows) * (band + _GAP), per_row * (thumb + _GAP), 3), 255, np.uint8)
    fig = Figure(figsize=(per_row * thumb / 50 + 2.2, len(rows) * band / 50 + 0.8), layout="tight")
    ax = fig.subplots()
    for r, (_, examples) in enumerate(rows):
        top = r * (band + _GAP)
        for c, example in enumerate(examples):
            left = c * (thumb + _GAP)
            crop = example_crop(stats, example, pixels[example.image], inside=True)
            mosaic[top : top + thumb, left : left + thumb] = _thumbnail(crop, thumb)
            if heat:
                window, units = heat[r][c]
                mosaic[top + thumb : top + 2 * thumb, left : left + thumb] = _heatmap(window, heat[r].scale, thumb)
                ax.text(left + thumb / 2, top + 2 * thumb + 1, " ".join(map(str, units)), fontsize=7, ha="center",
                        va="top")
    ax.imshow(mosaic)
    ax.set_yticks([r * (band + _GAP) + thumb / 2 for r in range(len(rows))])
    ax.set_yticklabels([_range_label(bounds[s], bounds[s + 1], stats, unit) for s, _ in rows], fontsize=8)
    ax.set_xticks([])
    title = f"{stats.layer}:{unit} examples by activation (rows: value range, z-score)"
    if heat:
        title += f"\nunder each: attribution to {heat[0].source} by position (red +, blue -) and its top units"
    ax.set_title(title, fontsize=9)
    return finish(fig, path)


class _Row(list):
    """One quilt row's (window, top units) per example, with the row's colour scale."""

    def __init__(self, tiles, source):
        super().__init__(tiles)
        self.source = source
        finite = [np.abs(w[np.isfinite(w)]).max() for w, _ in tiles if np.isfinite(w).any()]
        self.scale = max(finite, default=0.0) or 1.0


def _attributions(stats, unit, rows, pixels, model, source) -> list[_Row]:
    from neuronscope.attribution import attribute, previous_layer
    from neuronscope.models import load_model

    model = model if model is not None else load_model(stats.model)
    if model.name != stats.model:
        raise NeuronscopeError(f"the result is of {stats.model}, not of {model.name}")
    size = stats.manifest["settings"]["size"]
    source = source or previous_layer(model, stats.layer, size)
    examples = [e for _, row in rows for e in row]
    maps, top = [], []
    for start in range(0, len(examples), _BATCH):
        batch = examples[start : start + _BATCH]
        images = torch.stack([pixels[e.image] for e in batch])
        result = attribute(model, Neuron(stats.layer, unit), images, [(e.y, e.x) for e in batch], source)
        maps += list(result.by_position.cpu().numpy())
        top += [[u for u, _ in result.top_units(i, 2)] for i in range(len(batch))]
    source_field = model.receptive_field(source, size)
    tiles = [(_window(inside_box(stats.receptive_field, e.y, e.x), source_field, m), t)
             for e, m, t in zip(examples, maps, top)]
    out, start = [], 0
    for _, row in rows:
        out.append(_Row(tiles[start : start + len(row)], source))
        start += len(row)
    return out


def _window(box, source_field, by_position: np.ndarray) -> np.ndarray:
    """The attribution at the source positions whose field centres lie in `box` (top, left,
    bottom, right input pixels: the crop shown); nan outside the source grid."""

    def span(axis: int) -> np.ndarray:
        first = source_field.start[axis] + (source_field.size[axis] - 1) / 2
        stride = source_field.stride[axis]
        lo, hi = box[axis], box[axis + 2] - 1
        return np.arange(math.ceil((lo - first) / stride), math.floor((hi - first) / stride) + 1)

    ys, xs = span(0), span(1)
    inside_y, inside_x = (ys >= 0) & (ys < by_position.shape[0]), (xs >= 0) & (xs < by_position.shape[1])
    window = np.full((len(ys), len(xs)), np.nan)
    window[np.ix_(inside_y, inside_x)] = by_position[np.ix_(ys[inside_y], xs[inside_x])]
    return window


def _heatmap(window: np.ndarray, scale: float, thumb: int) -> np.ndarray:
    """(thumb, thumb, 3) uint8: white at 0, red for +scale, blue for -scale, grey for nan."""
    a = np.clip(np.nan_to_num(window / scale), -1, 1)
    rgb = np.stack([1 - np.maximum(-a, 0), 1 - np.abs(a), 1 - np.maximum(a, 0)], -1)
    rgb[np.isnan(window)] = 0.6
    rows = np.arange(thumb) * window.shape[0] // thumb
    cols = np.arange(thumb) * window.shape[1] // thumb
    return (rgb[rows][:, cols] * 255).round().astype(np.uint8)


def _range_label(low, high, stats, unit) -> str:
    def fmt(v):
        return f"{v:.3g}" if np.isfinite(v) else ("-inf" if v < 0 else "inf")

    z_low, z_high = stats.zscore(low, unit), stats.zscore(high, unit)
    return f"[{fmt(low)}, {fmt(high)})\nz [{fmt(z_low)}, {fmt(z_high)})"


def _thumbnail(crop: torch.Tensor, thumb: int) -> np.ndarray:
    tile = F.interpolate(crop[None], size=(thumb, thumb), mode="bilinear", antialias=True, align_corners=False)[0]
    return to_uint8(tile)
