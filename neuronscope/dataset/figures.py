"""Figures of dataset statistics: a unit's activation distribution, and a quilt of its examples."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neuronscope.dataset.decode import decode
from neuronscope.dataset.sources import open_item
from neuronscope.errors import NeuronscopeError
from neuronscope.models import crop_to_field

_DISPLAY_BINS = 120


def write_figures(stats, folder, which="all", workers: int = 1) -> list[Path]:
    """Write a layer overview and one distribution figure per chosen unit ("all", "none"/None,
    or unit numbers) into `folder`, drawing in `workers` forked processes; returns the paths."""
    if which is None or which == "none" or stats.count == 0:
        return []
    units = range(stats.units) if which == "all" else [_unit(stats, u) for u in which]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save(plot_overview(stats), folder / "overview.png")
    jobs = [(unit, folder / f"unit_{unit:04d}.png") for unit in units]
    if workers > 1 and len(jobs) > 1 and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs)), _adopt, (stats,)) as pool:
            pool.starmap(_draw, jobs, chunksize=8)
    else:
        _adopt(stats)
        for job in jobs:
            _draw(*job)
    return [folder / "overview.png"] + [path for _, path in jobs]


_STATS = None  # the Stats a figure worker draws from


def _adopt(stats) -> None:
    global _STATS
    _STATS = stats


def _draw(unit: int, path: Path) -> None:
    _save(plot_distribution(_STATS, unit), path)


def plot_distribution(stats, unit: int, path=None, tail: float = 0.05) -> Figure:
    """A unit's value distribution: density on linear and log axes (with exponential fits of both
    tails, rates in the legend), and each value's contribution to the mean, x * p(x)."""
    unit = _unit(stats, unit)
    edges, density = _density(stats, unit)
    centers = (edges[:-1] + edges[1:]) / 2
    fits = stats.tail_fits(tail)
    label = "pre-ReLU value" if stats.manifest["pre_relu"] else "value"
    fig = Figure(figsize=(13, 3.6))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.15, top=0.88, wspace=0.25)
    axes = fig.subplots(1, 3)
    axes[0].stairs(density, edges, fill=True, color="0.35")
    shown = density > 0
    axes[1].semilogy(centers[shown], density[shown], ".", color="0.35", markersize=3)
    for ax in axes[:2]:
        ax.set_xlabel(label)
        ax.set_ylabel("probability density")
    for side, sign in (("left", -1), ("right", 1)):
        rate, start, mass = (fits[f"{side}_{k}"][unit] for k in ("rate", "start", "mass"))
        if np.isfinite(rate):
            end = stats.min[unit] if side == "left" else stats.max[unit]
            x = np.linspace(start, end, 50)
            axes[1].plot(x, mass * rate * np.exp(-rate * sign * (x - start)), color="C0" if side == "left" else "C3",
                         label=f"{side} tail: rate {rate:.3g} (rate x std {rate * stats.std[unit]:.3g})")
    if axes[1].get_legend_handles_labels()[0]:
        axes[1].legend(fontsize=8, loc="lower center")
    contribution = centers * density
    axes[2].stairs(np.maximum(contribution, 0), edges, fill=True, color="C3")
    axes[2].stairs(np.minimum(contribution, 0), edges, fill=True, color="C0")
    axes[2].axhline(0, color="0.5", linewidth=0.5)
    axes[2].set_xlabel(label)
    axes[2].set_ylabel("x * p(x)  (area = mean)")
    fig.suptitle(
        f"{stats.layer}:{unit}   mean {stats.mean[unit]:.4g}   std {stats.std[unit]:.4g}   "
        f"> 0: {100 * stats.frac_positive[unit]:.1f}%   n = {stats.count:,}"
    )
    return _save(fig, path)


def plot_overview(stats, path=None) -> Figure:
    """Mean +- std and fraction above zero of every unit of the layer."""
    units = np.arange(stats.units)
    fig = Figure(figsize=(12, 5))
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.1, top=0.92, hspace=0.1)
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.fill_between(units, stats.mean - stats.std, stats.mean + stats.std, step="mid", color="C0", alpha=0.3,
                     linewidth=0)
    top.plot(units, stats.mean, ".", color="C0", markersize=3)
    top.set_ylabel("mean +- std")
    bottom.stairs(stats.frac_positive, np.arange(stats.units + 1) - 0.5, fill=True, color="0.35")
    bottom.set_ylabel("fraction > 0")
    bottom.set_xlabel("unit")
    fig.suptitle(f"{stats.model} {stats.layer}: {stats.images:,} images, {stats.count:,} values per unit")
    return _save(fig, path)


def plot_quilt(stats, unit: int, path=None, *, per_row: int = 8, thumb: int = 64) -> Figure:
    """Receptive-field crops of the positions behind a seeded random sample of the unit's values,
    one row per activation stratum (highest first), highest values on the left."""
    unit = _unit(stats, unit)
    settings = stats.manifest["settings"]
    strata = stats.samples(unit)
    bounds = stats.strata_edges[unit]
    rows = [(s, sorted(ex, key=lambda e: -e.value)[:per_row]) for s, ex in reversed(list(enumerate(strata))) if ex]
    if not rows:
        raise NeuronscopeError(f"no examples stored for unit {unit}")
    gap = 2
    mosaic = np.full((len(rows) * (thumb + gap), per_row * (thumb + gap), 3), 255, np.uint8)
    field = stats.receptive_field
    pixels = {}
    for r, (_, examples) in enumerate(rows):
        for c, example in enumerate(examples):
            if example.image not in pixels:
                pixels[example.image] = _load(stats, example.image_id, settings)
            tile = _thumbnail(crop_to_field(pixels[example.image], field, example.y, example.x, fill=0.5), thumb)
            mosaic[r * (thumb + gap) : r * (thumb + gap) + thumb, c * (thumb + gap) : c * (thumb + gap) + thumb] = tile
    fig = Figure(figsize=(per_row * thumb / 50 + 2.2, len(rows) * thumb / 50 + 0.8), layout="tight")
    ax = fig.subplots()
    ax.imshow(mosaic)
    ax.set_yticks([r * (thumb + gap) + thumb / 2 for r in range(len(rows))])
    ax.set_yticklabels([_range_label(bounds[s], bounds[s + 1], stats, unit) for s, _ in rows], fontsize=8)
    ax.set_xticks([])
    ax.set_title(f"{stats.layer}:{unit} examples by activation (rows: value range, z-score)", fontsize=9)
    return _save(fig, path)


def _unit(stats, unit) -> int:
    unit = int(unit)
    if not 0 <= unit < stats.units:
        raise NeuronscopeError(f"unit {unit} is out of range: {stats.layer} has {stats.units} units")
    return unit


def _density(stats, unit):
    """(edges, density): the histogram over [min, max] in about _DISPLAY_BINS bins; the outer
    bins span [min, lo) and [hi, max]."""
    counts = stats.hist[unit].astype(np.float64)
    edges = stats.edges[unit]
    vmin, vmax = float(stats.min[unit]), float(stats.max[unit])
    inner = counts[1:-1]
    factor = min(len(inner), max(1, int((vmax - vmin) / (edges[1] - edges[0])) // _DISPLAY_BINS))
    keep = len(inner) // factor * factor
    grouped = inner[:keep].reshape(-1, factor).sum(1)
    grouped[-1] += inner[keep:].sum()
    bounds = np.concatenate([[min(vmin, edges[0])], edges[:keep:factor], [edges[-1], max(vmax, edges[-1])]])
    grouped = np.concatenate([[counts[0]], grouped, [counts[-1]]])
    used = np.flatnonzero(grouped)
    grouped, bounds = grouped[used[0] : used[-1] + 1], bounds[used[0] : used[-1] + 2]
    widths = np.maximum(np.diff(bounds), np.finfo(np.float64).tiny)
    return bounds, grouped / (grouped.sum() * widths)


def _range_label(low, high, stats, unit) -> str:
    def fmt(v):
        return f"{v:.3g}" if np.isfinite(v) else ("-inf" if v < 0 else "inf")

    z_low, z_high = stats.zscore(low, unit), stats.zscore(high, unit)
    return f"[{fmt(low)}, {fmt(high)})\nz [{fmt(z_low)}, {fmt(z_high)})"


def _load(stats, image_id: str, settings) -> torch.Tensor:
    """The image as the run saw it, (3, size, size) in [0, 1]; grey if it has gone missing since."""
    try:
        source = stats.manifest["source"]
        pixels = decode(open_item(source["kind"], source["root"], image_id), settings["resize"], settings["size"])
    except (OSError, ValueError):
        return torch.full((3, settings["size"], settings["size"]), 0.5)
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255


def _thumbnail(crop: torch.Tensor, thumb: int) -> np.ndarray:
    tile = F.interpolate(crop[None], size=(thumb, thumb), mode="bilinear", antialias=True, align_corners=False)[0]
    return (tile.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def _save(fig: Figure, path) -> Figure:
    if path is not None:
        FigureCanvasAgg(fig)
        fig.savefig(path, dpi=90)
    return fig
