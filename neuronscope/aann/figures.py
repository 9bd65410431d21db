"""Figures comparing artificial and natural curve detectors (matplotlib, no pyplot state).

The panels themselves are the circuits and tuning figures; this module puts natural and
artificial versions side by side and overlays paired radial tuning curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuronscope.aann.compare import Comparison, KernelViews, TuningViews
from neuronscope.figures import save_side_by_side


def save_kernels(views: KernelViews, folder) -> list[Path]:
    """kernels_<kind>.png per source family: natural family matrix | artificial family matrix."""
    from neuronscope.circuits.figures import plot_family_matrix

    return [save_side_by_side([plot_family_matrix(views.natural[k]), plot_family_matrix(views.artificial[k])],
                              Path(folder) / f"kernels_{k}.png") for k in views.natural]


def save_tuning(views: TuningViews, folder) -> list[Path]:
    """heatmaps.png and radial.png (natural | artificial) and radial_pairs.png."""
    from neuronscope.tuning import figures

    folder = Path(folder)
    pairs = [(figures.plot_curve_heatmaps, "heatmaps.png"), (figures.plot_radial, "radial.png")]
    return [*(save_side_by_side([plot(views.natural), plot(views.artificial)], folder / name) for plot, name in pairs),
            figures.save(plot_radial_pairs(views), folder / "radial_pairs.png")]


def plot_radial_pairs(views: TuningViews, cols: int = 5) -> Figure:
    """One polar panel per artificial unit: its radial tuning curve and its orientation-matched
    natural unit's, each normalised by its maximum, with their correlation."""
    from neuronscope.tuning.figures import best_orientation_curves

    comparison: Comparison = views.comparison
    nat, art = views.natural, views.artificial
    nat_curves = best_orientation_curves(nat, nat.z, nat.units)
    art_curves = best_orientation_curves(art, art.z, art.units)
    theta = np.deg2rad(np.append(art.axes["orientation_deg"], art.axes["orientation_deg"][:1]))
    n = len(comparison.orientations)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(2.6 * cols, 2.9 * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, subplot_kw={"projection": "polar"}).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    ring = np.linspace(0, 2 * np.pi, 181)
    for k, (ax, pair) in enumerate(zip(axes, comparison.pairs)):
        curves = [art_curves[:, k], nat_curves[:, pair]]
        curves = [c / (np.nanmax(np.abs(c)) or 1.0) for c in curves]
        low = min(0.0, float(np.nanmin(curves)))
        ax.set_rlim(low, 1.05)
        ax.set_rorigin(low - 0.25 * (1.05 - low))  # radius = value - origin: negative values stay inside the ring
        ax.plot(ring, np.zeros_like(ring), color="0.6", lw=0.6, ls="--")  # the ring at zero
        for r, color in zip(curves, ("tab:red", "0.2")):
            ax.plot(theta, np.append(r, r[:1]), color=color, lw=1.2)
        ax.set_yticklabels([])
        ax.set_xticks(np.deg2rad([0, 90, 180, 270]))
        ax.set_title(f"{comparison.orientations[k]:.0f}° vs unit {comparison.natural.units[pair]} "
                     f"({comparison.natural.orientations[pair]:.0f}°)\nr = {comparison.matched[k]:.2f}", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Radial tuning to curves at the best radius: artificial (red) vs natural (black), each normalised "
                 f"by its maximum (dashed ring: 0)\n({nat.scale.label}); correlation of matched pairs "
                 f"{np.nanmean(comparison.matched):.2f}, of mismatched pairs {comparison.baseline:.2f}", fontsize=8)
    return fig
