"""Figures of circuits (matplotlib, no pyplot state). Kernels: red excites, blue inhibits, one
symmetric colour scale per figure. Every caption says the weights are the linear approximation."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from neuronscope.circuits.equivariance import Equivariance
from neuronscope.circuits.views import Contributions, Downstream, FamilyGraph, FamilyMatrix, NeuronInputs

LINEAR = "expanded weights, linear approximation (ReLU = identity, max-pool = average-pool)"
CMAP = "RdBu_r"


def _kernel(ax, kernel: torch.Tensor, vmax: float, label: str | None = None) -> None:
    ax.imshow(kernel.detach().cpu().numpy(), cmap=CMAP, vmin=-vmax, vmax=vmax, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if label:
        ax.set_title(label, fontsize=6, pad=2)


def _vmax(kernels: torch.Tensor) -> float:
    return float(kernels.abs().max()) or 1.0


def _grid(n: int, cols: int, cell: float = 0.9, extra_height: float = 0.8):
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    fig = Figure(figsize=(cell * cols + 0.6, cell * rows + extra_height))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def _label(group, i: int) -> str:
    unit = group.units[i]
    return f"{unit} ({group.orientations[i]:.0f}°)" if group.oriented else str(unit)


def plot_neuron_inputs(inputs: NeuronInputs, top: int = 48, cols: int = 12, bars: int = 10) -> Figure:
    """The `top` strongest kernels into the neuron (by summed |weight|) and bar charts of the
    source units with the largest summed positive and negative weights."""
    order = inputs.order()[:top]
    kernels = inputs.kernels[order]
    rows = -(-len(order) // cols)
    fig = Figure(figsize=(max(10.0, 0.85 * cols), 0.85 * rows + 3.6))
    grid = fig.add_gridspec(rows + 4, cols)
    vmax = _vmax(kernels)
    for i, u in enumerate(order):
        _kernel(fig.add_subplot(grid[i // cols, i % cols]), kernels[i], vmax, str(u))
    for j, sign in enumerate(("positive", "negative")):
        ax = fig.add_subplot(grid[rows + 1:, j * cols // 2:(j + 1) * cols // 2 - (1 if j == 0 else 0)])
        pairs = inputs.strongest(bars, sign)
        ax.barh([str(u) for u, _ in pairs][::-1], [v for _, v in pairs][::-1],
                color="tab:red" if sign == "positive" else "tab:blue")
        ax.set_title(f"strongest {sign} inputs (sum of {sign} weights)", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{inputs.model}: {inputs.source} -> {inputs.neuron}, kernels by strength\n{LINEAR}", fontsize=9)
    return fig


def kernel_mosaic(kernels: torch.Tensor, gap: int = 1) -> np.ndarray:
    """(t*(kh+gap)-gap, s*(kw+gap)-gap) array of the (t, s, kh, kw) kernels tiled row by row,
    nan in the gaps (drawn as the background)."""
    t, s, kh, kw = kernels.shape
    out = np.full((t * (kh + gap) - gap, s * (kw + gap) - gap), np.nan)
    k = kernels.detach().cpu().double().numpy()
    for i in range(t):
        for j in range(s):
            out[i * (kh + gap):i * (kh + gap) + kh, j * (kw + gap):j * (kw + gap) + kw] = k[i, j]
    return out


def plot_family_matrix(matrix: FamilyMatrix, summed: bool = True) -> Figure:
    """Kernels from each source unit (columns) to each target unit (rows), both ordered by
    preferred orientation, in one mosaic; beside it (unless `summed` is False) the summed weight
    of each pair."""
    t, s, kh, kw = matrix.kernels.shape
    cell = 0.16 + 0.04 * max(kh, kw)  # inches per kernel: a 1x1 kernel is a small square, a 7x7 one larger
    width = cell * s + 2.2
    fig = Figure(figsize=(width * 2 + 0.6 if summed else width, cell * t + 2.0), layout="constrained")
    axes = fig.subplots(1, 2 if summed else 1, squeeze=False).ravel()
    vmax = _vmax(matrix.kernels)
    image = axes[0].imshow(kernel_mosaic(matrix.kernels), cmap=CMAP, vmin=-vmax, vmax=vmax, interpolation="nearest")
    centres = (np.arange(t) * (kh + 1) + (kh - 1) / 2, np.arange(s) * (kw + 1) + (kw - 1) / 2)
    fig.colorbar(image, ax=axes[0], shrink=0.6).set_label("expanded weight", fontsize=8)
    for ax in axes:
        ax.set_xticks(centres[1] if ax is axes[0] else range(s), [_label(matrix.source, j) for j in range(s)],
                      rotation=90, fontsize=7)
        ax.set_yticks(centres[0] if ax is axes[0] else range(t), [_label(matrix.target, i) for i in range(t)],
                      fontsize=7)
        ax.set_xlabel(f"{matrix.source_layer} {matrix.source.name}", fontsize=8)
        ax.set_ylabel(f"{matrix.target_layer} {matrix.target.name}", fontsize=8)
        ax.tick_params(length=0)
    axes[0].set_title(f"{kh}x{kw} kernels", fontsize=8)
    if summed:
        sums = matrix.summed.detach().cpu().numpy()
        lim = float(np.abs(sums).max()) or 1.0
        image = axes[1].imshow(sums, cmap=CMAP, vmin=-lim, vmax=lim)
        axes[1].set_title("summed weight of each kernel", fontsize=8)
        fig.colorbar(image, ax=axes[1], shrink=0.6).set_label("summed weight", fontsize=8)
    fig.suptitle(f"{matrix.source_layer} {matrix.source.name} -> {matrix.target_layer} {matrix.target.name} "
                 f"(rows: targets, columns: sources, by orientation)\n{LINEAR}", fontsize=9)
    return fig


def plot_contributions(c: Contributions) -> Figure:
    fig = Figure(figsize=(6, 0.35 * len(c.names) + 1.4))
    ax = fig.subplots()
    colors = ["0.6" if n == "other" else ("tab:red" if v >= 0 else "tab:blue") for n, v in zip(c.names, c.values)]
    ax.barh(c.names[::-1], c.values[::-1], color=colors[::-1])
    ax.set_xlabel(c.label)
    ax.axvline(0, color="0.3", lw=0.6)
    fig.suptitle(f"families feeding {c.neuron} from {c.source}\n{LINEAR}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_paths(graph: FamilyGraph, keep: float = 0.05) -> Figure:
    """Families as nodes, one column per layer left to right; edges drawn with width and opacity
    by |summed weight| (red positive, blue negative); edges under `keep` of the largest are hidden."""
    tallest = max(len(f) for f in graph.families)
    fig = Figure(figsize=(3.2 * len(graph.layers) + 1, 1.6 + 0.6 * tallest))
    ax = fig.subplots()
    pos = {}
    for x, (layer, fams) in enumerate(zip(graph.layers, graph.families)):
        names = list(fams)
        for k, name in enumerate(names):
            pos[x, name] = (x, (len(names) - 1) / 2 - k)
            ax.text(x, pos[x, name][1], name, ha="center", va="center", fontsize=7, zorder=3,
                    bbox=dict(boxstyle="round", fc="white", ec="0.4"))
        ax.text(x, (tallest - 1) / 2 + 0.7, layer, ha="center", fontsize=8, weight="bold")
    ax.set_ylim(-(tallest - 1) / 2 - 0.6, (tallest - 1) / 2 + 1.1)
    top = max((abs(w) for *_, w in graph.edges), default=0) or 1.0
    for i, a, b, w in graph.edges:
        if abs(w) < keep * top:
            continue
        (x0, y0), (x1, y1) = pos[i, a], pos[i + 1, b]
        ax.plot([x0, x1], [y0, y1], color="tab:red" if w > 0 else "tab:blue", lw=0.5 + 4 * abs(w) / top,
                alpha=0.3 + 0.7 * abs(w) / top, zorder=1)
    ax.set_xlim(-0.6, len(graph.layers) - 0.4)
    ax.axis("off")
    fig.suptitle(f"family paths: edge = summed expanded weight per target unit (max |w| {top:.3g})\n{LINEAR}",
                 fontsize=8)
    return fig


def plot_downstream(d: Downstream) -> Figure:
    """One row per downstream unit (strongest use first): its kernels from each family unit,
    ordered by the family's orientation."""
    rows, cols = d.kernels.shape[:2]
    fig = Figure(figsize=(0.7 * cols + 1.5, 0.75 * rows + 1.4))
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = _vmax(d.kernels)
    for i in range(rows):
        for j in range(cols):
            _kernel(axes[i, j], d.kernels[i, j], vmax, _label(d.family, j) if i == 0 else None)
        axes[i, 0].set_ylabel(f"{d.target_layer}:{d.units[i]}", fontsize=6, rotation=0, ha="right", va="center")
    fig.suptitle(f"units of {d.target_layer} using {d.source_layer} {d.family.name} most (summed |weight|)\n{LINEAR}",
                 fontsize=8)
    return fig


def plot_equivariance(e: Equivariance, matrix: FamilyMatrix) -> Figure:
    """Summed weight of every pair against orientation difference (with each bin's mean), and
    the rotated-back prototype kernel of each orientation difference."""
    n = len(e.bins_deg)
    fig = Figure(figsize=(max(8.0, 0.9 * n + 1), 5.5))
    grid = fig.add_gridspec(2, max(n, 1), height_ratios=[3, 1])
    ax = fig.add_subplot(grid[0, :])
    d = np.where(e.difference_deg > e.period / 2, e.difference_deg - e.period, e.difference_deg)
    ax.scatter(d.ravel(), e.summed.ravel(), s=8, alpha=0.5, color="0.3", label="one pair")
    centres = np.where(e.bins_deg > e.period / 2, e.bins_deg - e.period, e.bins_deg)
    means = [e.summed[e.difference_deg == b].mean() for b in e.bins_deg]
    order = np.argsort(centres)
    ax.plot(centres[order], np.asarray(means)[order], "o-", color="tab:red", label="mean per difference")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("orientation difference, source - target (degrees)")
    ax.set_ylabel("summed weight")
    ax.legend(fontsize=7)
    vmax = _vmax(e.prototypes)
    for k, i in enumerate(order):
        _kernel(fig.add_subplot(grid[1, k]), e.prototypes[i], vmax, f"{centres[i]:.0f}°")
    null = (f" (shuffled orientations: mean {e.null_correlations.mean():.2f})"
            if len(e.null_correlations) else "")
    fig.suptitle(f"{matrix.source_layer} {matrix.source.name} -> {matrix.target_layer} {matrix.target.name}: "
                 f"equivariance, leave-one-out correlation {e.correlation:.2f}{null}, explained variance "
                 f"{e.explained_variance:.2f}\nkernels rotated back by the target's orientation; {LINEAR}", fontsize=8)
    return fig
