"""Figures of tuning results (matplotlib, no pyplot state). Every figure names its unit."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from neuronscope.tuning.result import Tuning


def save(fig: Figure, path, svg: bool = False) -> Path:
    """Write `fig` as PNG (and SVG beside it if asked); returns the PNG path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    if svg:
        fig.savefig(path.with_suffix(".svg"))
    return path


def title(t: Tuning) -> str:
    m = t.meta
    return f"{m.get('model', '')} {m.get('layer', '')} @{tuple(m.get('position', ()))}"


def _panels(n: int, cols: int, size=(3.2, 2.8), **kw):
    cols = min(cols, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(size[0] * cols + 1.2, size[1] * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_curve_heatmaps(t: Tuning, units=None, cols: int = 4) -> Figure:
    """Orientation x radius heatmap per unit ("wispy triangles"), in the tuning's z units."""
    units = t.units if units is None else list(units)
    fig, axes = _panels(len(units), cols)
    theta, radius = t.axes["orientation_deg"], t.axes["radius"]
    z = t.z
    limit = np.nanmax(np.abs(z[..., [t.column(u) for u in units]]))
    for ax, u in zip(axes, units):
        image = ax.pcolormesh(theta, np.arange(len(radius)), z[..., t.column(u)].T, cmap="RdBu_r",
                              vmin=-limit, vmax=limit, shading="nearest")
        ticks = np.linspace(0, len(radius) - 1, min(len(radius), 5)).round().astype(int)
        ax.set_yticks(ticks, [f"{radius[i]:.0f}" for i in ticks])
        ax.set_xticks(np.arange(0, 361, 90))
        ax.set_title(f"unit {u}", fontsize=9)
        ax.set_xlabel("orientation (deg)", fontsize=8)
        ax.set_ylabel("radius (px)", fontsize=8)
    fig.colorbar(image, ax=list(axes[:len(units)]), shrink=0.8, label=_wrap(t.scale.label))
    fig.suptitle(f"{title(t)}: response to curves", fontsize=10)
    return fig


def best_orientation_curves(t: Tuning, values: np.ndarray, units) -> np.ndarray:
    """(orientations, len(units)): each unit's orientation tuning at the size (radius, offset, ...)
    where its pre-activation peaks."""
    z = t.z.reshape(len(t.axes["orientation_deg"]), -1, len(t.units))
    v = values.reshape(z.shape)
    cols = [t.column(u) for u in units]
    best = [int(np.nanargmax(np.nanmax(z[:, :, c], axis=0))) for c in cols]
    return np.stack([v[:, b, c] for b, c in zip(best, cols)], axis=1)


def plot_radial(t: Tuning, units=None) -> Figure:
    """Polar orientation tuning of a family, pre- and post-activation, one colour per unit, each
    normalised by its own maximum (at the radius or offset where it peaks)."""
    units = t.units if units is None else list(units)
    theta = np.deg2rad(np.append(t.axes["orientation_deg"], t.axes["orientation_deg"][:1]))
    period = 360 if t.kind != "lines" else 180
    fig = Figure(figsize=(12.5, 6), layout="constrained")
    axes = fig.subplots(1, 2, subplot_kw={"projection": "polar"})
    colors = [_hue(i, len(units)) for i in range(len(units))]
    for ax, values, name in ((axes[0], t.z, f"pre-activation, {t.scale.label}"),
                             (axes[1], t.post, f"after {t.activation or 'identity'}")):
        curves = best_orientation_curves(t, values, units)
        peak = np.nanmax(np.abs(curves), axis=0)
        curves = curves / np.where(peak > 0, peak, 1)
        low = min(0.0, float(np.nanmin(curves)))
        for i, u in enumerate(units):
            r = np.append(curves[:, i], curves[:1, i])
            ax.plot(theta, r, color=colors[i], lw=1.2, label=str(u))
            if period == 180:  # a line's orientation is modulo 180: draw both halves
                ax.plot(theta + np.pi, r, color=colors[i], lw=1.2)
        ax.set_rlim(low, 1.05)
        if low < 0:
            ax.plot(np.linspace(0, 2 * np.pi, 100), np.zeros(100), color="0.5", lw=0.6, ls="--")
        ax.set_title(textwrap.fill(f"{name}, normalised by each unit's max (dashed: 0)", 60), fontsize=8)
        ax.tick_params(labelsize=7)
    if len(units) <= 60:
        fig.legend(*axes[1].get_legend_handles_labels(), fontsize=7, loc="outside right center",
                   ncol=1 + len(units) // 21, title="unit", title_fontsize=7)
    fig.suptitle(f"{title(t)}: orientation tuning to {t.kind} (orientation = outward normal, CCW from +x)",
                 fontsize=10)
    return fig


def _hue(i: int, n: int):
    from matplotlib import colormaps

    return colormaps["hsv"](i / max(n, 1) * 0.9)


def plot_heatmaps(t: Tuning, x_axis: str, y_axis: str, units=None, cols: int = 4, what: str = "") -> Figure:
    """One heatmap per unit over two axes of `t` (e.g. orientation x opening angle), in z units."""
    units = t.units if units is None else list(units)
    fig, axes = _panels(len(units), cols)
    names = list(t.axes)
    z = np.moveaxis(t.z, [names.index(x_axis), names.index(y_axis)], [1, 0])
    limit = np.nanmax(np.abs(z[..., [t.column(u) for u in units]]))
    for ax, u in zip(axes, units):
        image = ax.pcolormesh(t.axes[x_axis], t.axes[y_axis], z[..., t.column(u)], cmap="RdBu_r", vmin=-limit,
                              vmax=limit, shading="nearest")
        ax.set_title(f"unit {u}", fontsize=9)
        ax.set_xlabel(_label(x_axis), fontsize=8)
        ax.set_ylabel(_label(y_axis), fontsize=8)
    fig.colorbar(image, ax=list(axes[:len(units)]), shrink=0.8, label=_wrap(t.scale.label))
    fig.suptitle(f"{title(t)}: {what or t.kind}", fontsize=10)
    return fig


def plot_angles(t: Tuning, units=None) -> Figure:
    return plot_heatmaps(t, "orientation_deg", "opening_deg", units, what="response to angles")


def plot_morphs(t: Tuning, units=None) -> Figure:
    """The angle-to-curve series: each unit's response, at the orientation where it responds most,
    as the corner rounds into a curve."""
    units = t.units if units is None else list(units)
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    z = t.z
    for i, u in enumerate(units):
        c = t.column(u)
        best = np.nanargmax(np.nanmax(z[..., c], axis=1))
        ax.plot(t.axes["roundness"], z[best, :, c], color=_hue(i, len(units)),
                label=f"{u} ({t.axes['orientation_deg'][best]:.0f} deg)")
    ax.set_xlabel("roundness (0 = angle, 1 = curve)")
    ax.set_ylabel(_wrap(t.scale.label), fontsize=7)
    ax.legend(fontsize=6, title="unit (orientation)", title_fontsize=7)
    ax.set_title(f"{title(t)}: angle-to-curve morphs", fontsize=9)
    return fig


def plot_fill_colour(t: Tuning, units=None) -> Figure:
    """Orientation tuning per unit under outline / filled / inverted stimuli (left) and under random
    colour pairs (right: each pair thin, their mean thick)."""
    units = t.units if units is None else list(units)
    names = t.meta["conditions"]
    theta = t.axes["orientation_deg"]
    fig = Figure(figsize=(8, 2.4 * len(units) + 0.6), layout="constrained")
    axes = fig.subplots(len(units), 2, squeeze=False)
    z = t.z
    for row, u in zip(axes, units):
        c = t.column(u)
        for k, style in (("outline", "k-"), ("filled", "C0-"), ("inverted", "C3--")):
            row[0].plot(theta, z[names.index(k), :, c], style, label=k)
        colours = [i for i, n in enumerate(names) if n.startswith("colour")]
        for i in colours:
            row[1].plot(theta, z[i, :, c], color="0.6", lw=0.6)
        row[1].plot(theta, z[colours, :, c].mean(0), "k-", lw=1.8, label="mean of colour pairs")
        row[1].plot(theta, z[names.index("outline"), :, c], "C3--", lw=1, label="black on white")
        for ax in row:
            ax.set_ylabel(f"unit {u}\n(SDs)", fontsize=8)
            ax.set_xticks(np.arange(0, 361, 90))
        row[0].legend(fontsize=6)
        row[1].legend(fontsize=6)
    axes[0, 0].set_title("fill and polarity", fontsize=9)
    axes[0, 1].set_title("colour", fontsize=9)
    axes[-1, 0].set_xlabel("orientation (deg)")
    axes[-1, 1].set_xlabel("orientation (deg)")
    fig.suptitle(f"{title(t)}: {t.scale.label}", fontsize=9)
    return fig


def plot_tangent_lines(t: Tuning, unit: int) -> Figure:
    """Line orientation x position along the preferred curve for one unit; the dots mark the
    curve's own orientation at each position (tangent lines there have it)."""
    c = t.column(unit)
    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    z = t.z[..., c]
    limit = np.nanmax(np.abs(z))
    image = ax.pcolormesh(t.axes["position"], t.axes["orientation_deg"], z.T, cmap="RdBu_r", vmin=-limit,
                          vmax=limit, shading="nearest")
    ax.plot(t.axes["position"], t.meta["tangent_deg"], "ko", ms=4, label="curve's orientation there")
    ax.set_xlabel("position along the curve (px)")
    ax.set_ylabel("line orientation (deg, mod 180)")
    ax.legend(fontsize=7, loc="upper right")
    fig.colorbar(image, ax=ax, label=_wrap(t.scale.label))
    curve = t.meta["curve"]
    ax.set_title(f"{title(t)} unit {unit}: lines along the curve\n(orientation {curve['orientation_deg']:.0f} deg, "
                 f"radius {curve['radius']:.0f} px)", fontsize=9)
    return fig


def plot_joint(t: Tuning) -> Figure:
    """Joint tuning: every unit's post-activation response to all units' rotated top examples,
    aligned on orientation and averaged, each normalised by its max (one colour per unit)."""
    post = np.nanmean(t.post, axis=0)  # average over whose examples were rotated
    peak = np.nanmax(np.abs(post), axis=0)
    post = post / np.where(peak > 0, peak, 1)
    theta = t.axes["orientation_deg"]
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    for i, u in enumerate(t.units):
        ax.plot(theta, post[:, i], color=_hue(i, len(t.units)), lw=1.1, label=str(u))
    ax.set_xlabel("orientation of the rotated examples (deg)")
    ax.set_ylabel(f"after {t.activation or 'identity'}, / each unit's max")
    ax.set_xticks(np.arange(0, 361, 45))
    if len(t.units) <= 40:
        ax.legend(fontsize=6, ncol=1 + len(t.units) // 12, title="unit", title_fontsize=7, loc="upper right")
    ax.set_title(f"{title(t)}: joint tuning ({t.meta['examples']} top examples per unit, "
                 f"{t.meta['step_deg']:g} deg steps)", fontsize=9)
    return fig


def _wrap(text: str) -> str:
    return textwrap.fill(text, 32)


def _label(axis: str) -> str:
    return {"orientation_deg": "orientation (deg)", "opening_deg": "opening angle (deg)", "radius": "radius (px)",
            "roundness": "roundness", "offset": "offset (px)", "position": "position (px)"}.get(axis, axis)
