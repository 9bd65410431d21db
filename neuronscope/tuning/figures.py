"""Figures of tuning results (matplotlib, no pyplot state). Every figure names its unit.

Each `plot_*` takes `path=None` and returns its Figure, written there first when given
(`neuronscope.figures`). Sizes are for a page column about 11 inches (1,100 px) wide: fonts of
at least 7 points stay legible at that width.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.figure import Figure

from neuronscope.figures import finish, save_figure
from neuronscope.tuning.result import Tuning

save = save_figure  # the one saver, under the name earlier callers use

PAGE_WIDTH = 11.0  # inches


def title(t: Tuning) -> str:
    m = t.meta
    return f"{m.get('model', '')} {m.get('layer', '')} @{tuple(m.get('position', ()))}"


def _panels(n: int, cols: int, size=(2.1, 1.9), extra: float = 1.0, **kw):
    """A grid of n panels at most PAGE_WIDTH wide (cols shrink to fit); unused panels hidden."""
    cols = max(1, min(cols, n, int((PAGE_WIDTH - extra) // size[0])))
    rows = -(-n // cols)
    fig = Figure(figsize=(size[0] * cols + extra, size[1] * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, **kw)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return fig, axes, cols


def _label_outer(axes, n: int, cols: int, xlabel: str, ylabel: str) -> None:
    """Axis labels on the left column and the bottom panel of each column only."""
    for i, ax in enumerate(axes.ravel()[:n]):
        if i % cols == 0:
            ax.set_ylabel(ylabel, fontsize=8)
        if i + cols >= n:
            ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)


def _unit_title(u, orientations) -> str:
    return f"unit {u}" + (f" ({orientations[u]:.0f}°)" if orientations and u in orientations else "")


def plot_curve_heatmaps(t: Tuning, units=None, cols: int = 5, path=None, orientations: dict | None = None) -> Figure:
    """Orientation x radius heatmap per unit ("wispy triangles"), in the tuning's z units;
    `orientations` (unit -> degrees) adds each unit's preferred orientation to its title."""
    units = t.units if units is None else list(units)
    fig, axes, cols = _panels(len(units), cols)
    theta, radius = t.axes["orientation_deg"], t.axes["radius"]
    z = t.z
    limit = np.nanmax(np.abs(z[..., [t.column(u) for u in units]]))
    for ax, u in zip(axes.ravel(), units):
        image = ax.pcolormesh(theta, np.arange(len(radius)), z[..., t.column(u)].T, cmap="RdBu_r",
                              vmin=-limit, vmax=limit, shading="nearest")
        ticks = np.linspace(0, len(radius) - 1, min(len(radius), 4)).round().astype(int)
        ax.set_yticks(ticks, [f"{radius[i]:.0f}" for i in ticks])
        ax.set_xticks(np.arange(0, 361, 90))
        ax.set_title(_unit_title(u, orientations), fontsize=8)
    _label_outer(axes, len(units), cols, "orientation (deg)", "radius (px)")
    bar = fig.colorbar(image, ax=list(axes.ravel()[:len(units)]), shrink=0.6, label=_wrap(t.scale.label))
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"{title(t)}: response to curves", fontsize=10)
    return finish(fig, path)


def best_orientation_curves(t: Tuning, values: np.ndarray, units) -> np.ndarray:
    """(orientations, len(units)): each unit's orientation tuning at the size (radius, offset, ...)
    where its pre-activation peaks."""
    z = t.z.reshape(len(t.axes["orientation_deg"]), -1, len(t.units))
    v = values.reshape(z.shape)
    cols = [t.column(u) for u in units]
    best = [int(np.nanargmax(np.nanmax(z[:, :, c], axis=0))) for c in cols]
    return np.stack([v[:, b, c] for b, c in zip(best, cols)], axis=1)


def _normalised(curves: np.ndarray) -> np.ndarray:
    peak = np.nanmax(np.abs(curves), axis=0)
    return curves / np.where(peak > 0, peak, 1)


def _polar_radius(values: np.ndarray) -> tuple[np.ndarray, float]:
    """Radii for a polar plot, never negative: values shifted so their minimum sits at the
    centre when any is below zero; returns (radii, where zero now lies)."""
    low = min(0.0, float(np.nanmin(values)))
    return values - low, -low


def plot_radial(t: Tuning, units=None, path=None) -> Figure:
    """The family's orientation tuning, one colour per unit, each normalised by its own maximum
    (at the radius or offset where it peaks): pre-activation on Cartesian axes (it goes below
    zero), after the activation on polar axes (shifted to a dashed zero ring if it goes below)."""
    units = t.units if units is None else list(units)
    theta_deg = t.axes["orientation_deg"]
    theta = np.deg2rad(np.append(theta_deg, theta_deg[:1]))
    fig = Figure(figsize=(PAGE_WIDTH, 4.6), layout="constrained")
    cart = fig.add_subplot(1, 2, 1)
    polar = fig.add_subplot(1, 2, 2, projection="polar")
    colors = [_hue(i, len(units)) for i in range(len(units))]
    pre = _normalised(best_orientation_curves(t, t.z, units))
    post = _normalised(best_orientation_curves(t, t.post, units))
    radii, zero = _polar_radius(post)
    for i, u in enumerate(units):
        cart.plot(theta_deg, pre[:, i], color=colors[i], lw=1.1, label=str(u))
        r = np.append(radii[:, i], radii[:1, i])
        polar.plot(theta, r, color=colors[i], lw=1.1)
        if t.kind == "lines":  # a line's orientation is modulo 180: draw both halves
            polar.plot(theta + np.pi, r, color=colors[i], lw=1.1)
    cart.axhline(0, color="0.5", lw=0.6, ls="--")
    cart.set_xticks(np.arange(0, 361 if t.kind != "lines" else 181, 45))
    cart.set_xlabel("stimulus orientation (deg)", fontsize=8)
    cart.set_ylabel(textwrap.fill(f"pre-activation ({t.scale.label}), / each unit's max", 45), fontsize=8)
    polar.set_rlim(0, 1.05 + zero)
    polar.set_yticklabels([])
    if zero > 0:
        polar.plot(np.linspace(0, 2 * np.pi, 100), np.full(100, zero), color="0.5", lw=0.6, ls="--")
    polar.set_title(f"after {t.activation or 'identity'}, / each unit's max" + (" (dashed: 0)" if zero else ""),
                    fontsize=8)
    for ax in (cart, polar):
        ax.tick_params(labelsize=7)
    if len(units) <= 60:
        fig.legend(*cart.get_legend_handles_labels(), fontsize=7, loc="outside right center",
                   ncol=1 + len(units) // 21, title="unit", title_fontsize=7)
    fig.suptitle(f"{title(t)}: orientation tuning to {t.kind} (orientation = outward normal, CCW from +x)",
                 fontsize=9)
    return finish(fig, path)


def plot_radial_units(t: Tuning, units=None, orientations: dict | None = None, cols: int = 8, path=None) -> Figure:
    """Small multiples: each unit's orientation tuning after the activation on its own polar
    panel (normalised by its maximum; never a negative radius), its family orientation (from
    `orientations`, unit -> degrees) marked by a line."""
    units = t.units if units is None else list(units)
    fig, axes, cols = _panels(len(units), cols, size=(1.3, 1.45), extra=0.2, subplot_kw={"projection": "polar"})
    theta_deg = t.axes["orientation_deg"]
    theta = np.deg2rad(np.append(theta_deg, theta_deg[:1]))
    radii, zero = _polar_radius(_normalised(best_orientation_curves(t, t.post, units)))
    for i, (ax, u) in enumerate(zip(axes.ravel(), units)):
        ax.fill(theta, np.append(radii[:, i], radii[:1, i]), color=_hue(i, len(units)), alpha=0.8, lw=0)
        if orientations and u in orientations:
            ax.plot([np.deg2rad(orientations[u])] * 2, [0, 1 + zero], color="k", lw=0.8)
        ax.set_rlim(0, 1.05 + zero)
        ax.set_xticks(np.deg2rad([0, 90, 180, 270]), ["0", "90", "180", "270"])
        ax.set_yticklabels([])
        ax.tick_params(labelsize=7, pad=0)
        ax.set_title(_unit_title(u, orientations), fontsize=7.5)
    fig.suptitle(f"{title(t)}: each unit after {t.activation or 'identity'}, / its max"
                 + (" (line: family orientation)" if orientations else ""), fontsize=9)
    return finish(fig, path)


def _hue(i: int, n: int):
    from matplotlib import colormaps

    return colormaps["hsv"](i / max(n, 1) * 0.9)


def plot_heatmaps(t: Tuning, x_axis: str, y_axis: str, units=None, cols: int = 5, what: str = "", path=None,
                  orientations: dict | None = None) -> Figure:
    """One heatmap per unit over two axes of `t` (e.g. orientation x opening angle), in z units."""
    units = t.units if units is None else list(units)
    fig, axes, cols = _panels(len(units), cols)
    names = list(t.axes)
    z = np.moveaxis(t.z, [names.index(x_axis), names.index(y_axis)], [1, 0])
    limit = np.nanmax(np.abs(z[..., [t.column(u) for u in units]]))
    for ax, u in zip(axes.ravel(), units):
        image = ax.pcolormesh(t.axes[x_axis], t.axes[y_axis], z[..., t.column(u)], cmap="RdBu_r", vmin=-limit,
                              vmax=limit, shading="nearest")
        ax.set_title(_unit_title(u, orientations), fontsize=8)
        if x_axis == "orientation_deg":
            ax.set_xticks(np.arange(0, 361, 90))
    _label_outer(axes, len(units), cols, _label(x_axis), _label(y_axis))
    bar = fig.colorbar(image, ax=list(axes.ravel()[:len(units)]), shrink=0.6, label=_wrap(t.scale.label))
    bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"{title(t)}: {what or t.kind}", fontsize=10)
    return finish(fig, path)


def plot_angles(t: Tuning, units=None, path=None, orientations: dict | None = None) -> Figure:
    return plot_heatmaps(t, "orientation_deg", "opening_deg", units, what="response to angles", path=path,
                         orientations=orientations)


def morph_orientations(t: Tuning, units, orientations: dict | None = None) -> dict[int, float]:
    """The orientation each unit's morph series is drawn at: the sweep's orientation nearest the
    unit's family orientation (`orientations`, unit -> degrees), else where it responds most."""
    theta = t.axes["orientation_deg"]
    out = {}
    for u in units:
        if orientations and u in orientations:
            i = int(np.argmin(np.abs((theta - orientations[u] + 180) % 360 - 180)))
        else:
            i = int(np.nanargmax(np.nanmax(t.z[..., t.column(u)], axis=1)))
        out[u] = float(theta[i])
    return out


def plot_morphs(t: Tuning, units=None, orientations: dict | None = None, path=None) -> Figure:
    """The angle-to-curve series as the article draws it: one row per unit (at its family
    orientation, see `morph_orientations`), one column per step from a sharp angle to a curve."""
    units = t.units if units is None else list(units)
    drawn = morph_orientations(t, units, orientations)
    theta = list(t.axes["orientation_deg"])
    rows = np.stack([t.z[theta.index(drawn[u]), :, t.column(u)] for u in units])
    fig = Figure(figsize=(7.5, 1.2 + 0.22 * len(units)), layout="constrained")
    ax = fig.subplots()
    limit = np.nanmax(np.abs(rows))
    image = ax.pcolormesh(t.axes["roundness"], np.arange(len(units)), rows, cmap="RdBu_r", vmin=-limit,
                          vmax=limit, shading="nearest")
    ax.set_yticks(np.arange(len(units)), [f"{u} ({drawn[u]:.0f}°)" for u in units], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("roundness (0 = sharp angle, 1 = curve)", fontsize=8)
    ax.set_ylabel("unit (orientation drawn)", fontsize=8)
    ax.tick_params(labelsize=7)
    bar = fig.colorbar(image, ax=ax, label=_wrap(t.scale.label))
    bar.ax.tick_params(labelsize=7)
    ax.set_title(f"{title(t)}: angle-to-curve morphs", fontsize=9)
    return finish(fig, path)


def plot_fill_colour(t: Tuning, units=None, cols: int = 5, path=None, orientations: dict | None = None) -> Figure:
    """One panel per unit: orientation tuning to the arc as an outline, filled and inverted, and
    the mean over random colour pairs (each pair thin grey): fill and colour invariance."""
    units = t.units if units is None else list(units)
    names = t.meta["conditions"]
    theta = t.axes["orientation_deg"]
    fig, axes, cols = _panels(len(units), cols, size=(2.1, 1.6))
    z = t.z
    colours = [i for i, n in enumerate(names) if n.startswith("colour")]
    for ax, u in zip(axes.ravel(), units):
        c = t.column(u)
        for i in colours:
            ax.plot(theta, z[i, :, c], color="0.75", lw=0.5)
        if colours:
            ax.plot(theta, z[colours, :, c].mean(0), color="C2", lw=1.6, label="mean of colour pairs")
        for k, style in (("outline", "k-"), ("filled", "C0-"), ("inverted", "C3--")):
            ax.plot(theta, z[names.index(k), :, c], style, lw=1, label=k)
        ax.set_xticks(np.arange(0, 361, 90))
        ax.set_title(_unit_title(u, orientations), fontsize=8)
    _label_outer(axes, len(units), cols, "orientation (deg)", "SDs")
    fig.legend(*axes.ravel()[0].get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncol=4)
    fig.suptitle(f"{title(t)}: outline, filled, inverted and coloured arcs ({t.scale.label})", fontsize=9)
    return finish(fig, path)


def plot_tangent_lines(t: Tuning, unit: int, path=None) -> Figure:
    """Line orientation x position along the preferred curve for one unit; the dots mark the
    curve's own orientation at each position (tangent lines there have it)."""
    c = t.column(unit)
    fig = Figure(figsize=(5.4, 4.2), layout="constrained")
    ax = fig.subplots()
    z = t.z[..., c]
    limit = np.nanmax(np.abs(z))
    image = ax.pcolormesh(t.axes["position"], t.axes["orientation_deg"], z.T, cmap="RdBu_r", vmin=-limit,
                          vmax=limit, shading="nearest")
    ax.plot(t.axes["position"], t.meta["tangent_deg"], "ko", ms=4, label="the curve's own orientation there")
    ax.set_xlabel("position along the curve (px)", fontsize=8)
    ax.set_ylabel("line orientation (deg, mod 180)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="outside lower center")
    bar = fig.colorbar(image, ax=ax, label=_wrap(t.scale.label))
    bar.ax.tick_params(labelsize=7)
    curve = t.meta["curve"]
    ax.set_title(f"{title(t)} unit {unit}: lines along the curve\n(orientation {curve['orientation_deg']:.0f} deg, "
                 f"radius {curve['radius']:.0f} px)", fontsize=8)
    return finish(fig, path)


def plot_joint(t: Tuning, path=None) -> Figure:
    """Joint tuning: every unit's post-activation response to all units' rotated top examples,
    aligned on orientation and averaged, each normalised by its max (one colour per unit)."""
    post = np.nanmean(t.post, axis=0)  # average over whose examples were rotated
    post = _normalised(post)
    theta = t.axes["orientation_deg"]
    fig = Figure(figsize=(9.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, u in enumerate(t.units):
        ax.plot(theta, post[:, i], color=_hue(i, len(t.units)), lw=1.1, label=str(u))
    ax.set_xlabel("orientation of the rotated examples (deg)", fontsize=8)
    ax.set_ylabel(f"after {t.activation or 'identity'}, / each unit's max", fontsize=8)
    ax.set_xticks(np.arange(0, 361, 45))
    ax.tick_params(labelsize=7)
    if len(t.units) <= 60:
        fig.legend(*ax.get_legend_handles_labels(), fontsize=7, ncol=1 + len(t.units) // 21, title="unit",
                   title_fontsize=7, loc="outside right center")
    ax.set_title(f"{title(t)}: joint tuning ({t.meta['examples']} top examples per unit, "
                 f"{t.meta['step_deg']:g} deg steps)", fontsize=9)
    return finish(fig, path)


def _wrap(text: str) -> str:
    return textwrap.fill(text, 32)


def _label(axis: str) -> str:
    return {"orientation_deg": "orientation (deg)", "opening_deg": "opening angle (deg)", "radius": "radius (px)",
            "roundness": "roundness", "offset": "offset (px)", "position": "position (px)"}.get(axis, axis)
