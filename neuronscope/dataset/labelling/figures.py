"""The Curve Detectors article's figures from blind labels: what the unit's activations are made of.

The labelled samples are uniform within each activation stratum, so the fraction of a category
among a stratum's answers estimates P(category | value in that stratum); weighting the unit's
exact histogram by it splits the density p(x) and the contribution to the mean, x * p(x), by
category. Strata holding values but no answers form a "not labelled" part.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuronscope.dataset.figures import display_density
from neuronscope.errors import NeuronscopeError
from neuronscope.figures import save_figure

UNLABELLED = "not labelled"


def split_histogram(session) -> tuple[list[str], np.ndarray]:
    """(names, parts): the unit's histogram counts (bins + 2 columns, see `Stats.hist`) split into
    one row per category plus a last "not labelled" row; the rows add up to the histogram."""
    stats, counts = session.stats, session.counts().astype(np.float64)
    hist = stats.hist[session.unit].astype(np.float64)
    bins, strata = hist.size - 2, counts.shape[0]
    stratum = np.concatenate([[0], np.arange(bins) // (bins // strata), [strata - 1]])  # of each column
    answered = counts.sum(1)
    fractions = np.divide(counts, answered[:, None], out=np.zeros_like(counts), where=answered[:, None] > 0)
    parts = np.vstack([hist * fractions[stratum].T, hist * (answered[stratum] == 0)])
    return [*session.categories, UNLABELLED], parts


def contribution_shares(session) -> dict[str, float]:
    """Each category's share of the positive part of the mean, the integral of x * p(x) over x > 0
    (the mean after a ReLU), from the histogram split by `split_histogram`."""
    names, parts = split_histogram(session)
    edges, density = display_density(session.stats, session.unit, parts)
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    positive = (density * np.maximum(centres, 0) * widths).sum(1)
    total = positive.sum()
    return {name: float(v / total) if total > 0 else float("nan") for name, v in zip(names, positive)}


def plot_label_figures(session, folder=None) -> dict[str, Figure]:
    """Three figures of the labels: "fractions" (a stackplot of category fractions per activation
    stratum), "density" (p(x) split by category) and "contribution" (x * p(x) split by category,
    each category's share of the positive part in the legend). With `folder`, they are written
    there as unit_NNNN_<name>.png, with unit_NNNN_labels.json (counts per stratum and shares)."""
    if session.answered == 0:
        raise NeuronscopeError(f"no labels yet for unit {session.unit} in {session.path}")
    stats, unit = session.stats, session.unit
    names, parts = split_histogram(session)
    colors = [f"C{i % 10}" for i in range(len(session.categories))] + ["0.85"]
    shares = contribution_shares(session)
    title = f"{stats.layer}:{unit}, {session.answered} of {len(session)} samples labelled blind"
    figures = {"fractions": _fractions(session, colors, title)}
    edges, density = display_density(stats, unit, parts)
    centres = (edges[:-1] + edges[1:]) / 2
    xlabel = "pre-ReLU value" if stats.manifest["pre_relu"] else "value"
    for name, values, ylabel in (("density", density, "probability density"),
                                 ("contribution", density * centres, "x * p(x)  (area = mean)")):
        fig = Figure(figsize=(10, 4), layout="tight")
        ax = fig.subplots()
        below = np.zeros(values.shape[1])
        for part, label, color in zip(values, names, colors):
            if name == "contribution":
                label = f"{label}: {100 * shares[label]:.0f}% of the mean over x > 0"
            ax.stairs(below + part, edges, baseline=below, fill=True, color=color, label=label)
            below = below + part
        ax.axhline(0, color="0.5", linewidth=0.5)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        figures[name] = fig
    if folder is not None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            save_figure(fig, folder / f"unit_{unit:04d}_{name}.png")
        summary = {"layer": stats.layer, "unit": unit, "answered": session.answered, "items": len(session),
                   "categories": session.categories, "strata_edges": _finite(stats.strata_edges[unit]),
                   "answers_per_stratum": session.counts().tolist(), "contribution_shares": shares}
        (folder / f"unit_{unit:04d}_labels.json").write_text(json.dumps(summary, indent=2) + "\n")
    return figures


def _fractions(session, colors, title) -> Figure:
    """Stackplot over the labelled strata, each drawn flat across its value range (clipped to [min, max])."""
    stats, unit, counts = session.stats, session.unit, session.counts()
    bounds = np.clip(stats.strata_edges[unit], stats.min[unit], stats.max[unit])
    xs, ys = [], []
    for s in np.flatnonzero(counts.sum(1)):
        xs += [bounds[s], bounds[s + 1]]
        ys += [counts[s] / counts[s].sum()] * 2
    fig = Figure(figsize=(10, 4), layout="tight")
    ax = fig.subplots()
    ax.stackplot(xs, np.array(ys).T, labels=session.categories, colors=colors[:-1])
    for s in np.flatnonzero(counts.sum(1)):
        ax.text((bounds[s] + bounds[s + 1]) / 2, 1.01, f"n={counts[s].sum()}", ha="center", fontsize=7)
    ax.set_ylim(0, 1.06)
    ax.set_xlabel("pre-ReLU value" if stats.manifest["pre_relu"] else "value")
    ax.set_ylabel("fraction of answers")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return fig


def _finite(values) -> list:
    return [float(v) if np.isfinite(v) else None for v in values]
