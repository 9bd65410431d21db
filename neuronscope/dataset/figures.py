"""Figures of dataset statistics: a unit's activation distribution and the layer's overview.

`plot_*` take `path=None` and return the Figure (the `neuronscope.figures` convention)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuronscope.errors import NeuronscopeError
from neuronscope.figures import finish, save_figure

_DISPLAY_BINS = 120
_MIN_POOL_JOBS = 32  # fewer figures are drawn faster in this process than by starting others


def write_figures(stats, folder, which="all", workers: int = 1) -> list[Path]:
    """Write a layer overview and one distribution figure per chosen unit ("all", "none"/None,
    or unit numbers) into `folder`; returns the paths. Many figures are drawn in `workers`
    processes, started fresh ("spawn"): a forked copy of a process in which torch has started
    threads can deadlock."""
    if which is None or which == "none" or stats.count == 0:
        return []
    units = range(stats.units) if which == "all" else [check_unit(stats, u) for u in which]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plot_overview(stats, folder / "overview.png")
    jobs = [(unit, folder / f"unit_{unit:04d}.png") for unit in units]
    if workers > 1 and len(jobs) >= _MIN_POOL_JOBS:  # a spawned process takes seconds to import
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs)), _adopt, (stats,)) as pool:
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
    plot_distribution(_STATS, unit, path)


def plot_distribution(stats, unit: int, path=None, tail: float = 0.05) -> Figure:
    """A unit's value distribution: density on linear and log axes (with exponential fits of both
    tails, rates in the legend), and each value's contribution to the mean, x * p(x)."""
    unit = check_unit(stats, unit)
    edges, density = display_density(stats, unit)
    centers = (edges[:-1] + edges[1:]) / 2
    fits = stats.tail_fits(tail)
    label = "pre-ReLU value" if stats.manifest["pre_relu"] else "value"
    fig = Figure(figsize=(11, 3.4), layout="constrained")
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
        fig.legend(*axes[1].get_legend_handles_labels(), fontsize=7, loc="outside lower center", ncol=2)  # off the data
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
    return finish(fig, path)


def plot_overview(stats, path=None) -> Figure:
    """Mean +- std and fraction above zero of every unit of the layer."""
    units = np.arange(stats.units)
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.fill_between(units, stats.mean - stats.std, stats.mean + stats.std, step="mid", color="C0", alpha=0.3,
                     linewidth=0)
    top.plot(units, stats.mean, ".", color="C0", markersize=3)
    top.set_ylabel("mean +- std")
    bottom.stairs(stats.frac_positive, np.arange(stats.units + 1) - 0.5, fill=True, color="0.35")
    bottom.set_ylabel("fraction > 0")
    bottom.set_xlabel("unit")
    fig.suptitle(f"{stats.model} {stats.layer}: {stats.images:,} images, {stats.count:,} values per unit")
    return finish(fig, path)


def check_unit(stats, unit) -> int:
    unit = int(unit)
    if not 0 <= unit < stats.units:
        raise NeuronscopeError(f"unit {unit} is out of range: {stats.layer} has {stats.units} units")
    return unit


def display_density(stats, unit, parts=None):
    """(edges, density): the unit's histogram over [min, max] in about _DISPLAY_BINS bins; the outer
    bins span [min, lo) and [hi, max]. With `parts`, (k, bins + 2) counts that add up to the
    histogram, the density of each part (k, display bins), normalised by the unit's total count."""
    counts = stats.hist[unit].astype(np.float64)
    rows = counts[None] if parts is None else np.asarray(parts, np.float64)
    edges = stats.edges[unit]
    vmin, vmax = float(stats.min[unit]), float(stats.max[unit])
    inner = counts.size - 2
    factor = min(inner, max(1, int((vmax - vmin) / (edges[1] - edges[0])) // _DISPLAY_BINS))
    keep = inner // factor * factor
    grouped = rows[:, 1 : keep + 1].reshape(len(rows), -1, factor).sum(2)
    grouped[:, -1] += rows[:, keep + 1 : -1].sum(1)
    bounds = np.concatenate([[min(vmin, edges[0])], edges[:keep:factor], [edges[-1], max(vmax, edges[-1])]])
    grouped = np.concatenate([rows[:, :1], grouped, rows[:, -1:]], 1)
    used = np.flatnonzero(grouped.sum(0))
    grouped, bounds = grouped[:, used[0] : used[-1] + 1], bounds[used[0] : used[-1] + 2]
    widths = np.maximum(np.diff(bounds), np.finfo(np.float64).tiny)
    density = grouped / (counts.sum() * widths)
    return bounds, density[0] if parts is None else density


__all__ = ["check_unit", "display_density", "plot_distribution", "plot_overview", "save_figure",
           "write_figures"]
