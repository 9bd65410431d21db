"""Figures of the applications: extraction beside Canny (full resolution), and combing.

    paths = retina_figure(model, "out/")                 # skimage's retina: photo | curve map | Canny
    fig = combing_figure(survey)                         # combing index by unit and layer, stimuli
    save(fig, "out/combing.png")
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuronscope.tuning.figures import save

__all__ = ["canny_edges", "combing_figure", "extraction_panel", "image_grid_done", "retina_figure", "save"]

CANNY_SIGMA = 2.0
CANNY_QUANTILES = (0.8, 0.9)   # low and high thresholds, as quantiles of the gradient magnitude


def no_ticks(axes) -> None:
    """Image panels: no ticks on any of the axes."""
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def image_grid_done(fig: Figure, axes, title: str | None = None) -> Figure:
    """The end of a grid of image panels: no ticks, the title (when given) above, laid out tight."""
    no_ticks(axes)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def canny_edges(image, sigma: float = CANNY_SIGMA, quantiles=CANNY_QUANTILES) -> np.ndarray:
    """scikit-image's Canny on the image's luma, thresholds as quantiles of its gradient magnitude."""
    from skimage.feature import canny

    from neuronscope.applications.bench import grey

    return canny(grey(image), sigma=sigma, low_threshold=quantiles[0], high_threshold=quantiles[1],
                 use_quantiles=True)


def extraction_panel(image, curve_map, edges, gap: int = 8) -> np.ndarray:
    """(H, 3W + 2 gap, 3) uint8 at full resolution: the image | the curve map | Canny's edges, maps
    drawn dark on white; the curve map is shown up to its 99.5th percentile (brighter values clip)."""
    img = np.asarray(image, np.float64).transpose(1, 2, 0)
    m = np.asarray(curve_map, np.float64)
    top = np.percentile(m, 99.5)
    m = np.clip(m / top, 0, 1) if top > 0 else m
    panels = [img, np.repeat(1 - m[..., None], 3, 2), np.repeat(1 - np.asarray(edges, np.float64)[..., None], 3, 2)]
    white = np.ones((img.shape[0], gap, 3))
    out = np.concatenate([panels[0], white, panels[1], white, panels[2]], axis=1)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def retina_figure(model, out_dir, *, layer: str | None = None, units=None, method: str | None = None,
                  detail=(450, 350, 450)) -> dict[str, Path]:
    """Curve extraction on scikit-image's `retina` photograph (an angiogram-like fundus image, 1411
    px square) at full resolution beside Canny (`canny_edges`): writes retina_extraction.png (photo |
    map | Canny), retina_map.png (the map alone, 16-bit), a quarter-size overview and a
    full-resolution detail (`detail` = top, left, side in px) of the panel; returns their paths."""
    import skimage.data
    from PIL import Image

    from neuronscope.applications.extract import DEFAULT_METHOD, extract_curves
    from neuronscope.images import to_tensor

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image = to_tensor(skimage.data.retina())
    curve_map = extract_curves(model, image, layer, units, method=method or DEFAULT_METHOD).numpy()
    panel = extraction_panel(image.numpy(), curve_map, canny_edges(image.numpy()))
    paths = {"panel": out / "retina_extraction.png", "map": out / "retina_map.png",
             "overview": out / "retina_extraction_overview.png", "detail": out / "retina_extraction_detail.png"}
    Image.fromarray(panel).save(paths["panel"])
    Image.fromarray((curve_map * 65535 + 0.5).astype(np.uint16)).save(paths["map"])
    full = Image.fromarray(panel)
    full.resize((full.width // 4, full.height // 4), Image.LANCZOS).save(paths["overview"])
    top, left, side = detail
    w = image.shape[-1]
    parts = [full.crop((x + left, top, x + left + side, top + side)) for x in (0, w + 8, 2 * w + 16)]
    crop = Image.new("RGB", (3 * side + 16, side), "white")
    for i, part in enumerate(parts):
        crop.paste(part, (i * (side + 8), 0))
    crop.save(paths["detail"])
    return paths


def combing_figure(results, examples: int = 1) -> Figure:
    """Combing index (dataset SDs, by mode) of every unit of each `Combing` result (one panel per
    layer and family kind; units ordered by orientation), and the stimuli of the first unit."""
    from neuronscope.applications.combing import MODES, example_stimulus

    results = [r for r in results if r.units]
    if not results:
        raise ValueError("no combing results to draw")
    n = len(results)
    widths = [max(2.5, 0.16 * len(r.units) + 1.2) for r in results]
    fig = Figure(figsize=(sum(widths) + 3.0, 5.0), layout="constrained")
    grid = fig.add_gridspec(1, n + 1, width_ratios=[*widths, 2.4])
    top = max(float(np.abs(r.index).max()) for r in results) or 1.0
    for i, r in enumerate(results):
        ax = fig.add_subplot(grid[0, i])
        idx = r.index.T
        im = ax.imshow(idx, cmap="RdBu_r", vmin=-top, vmax=top, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(MODES)), MODES, fontsize=8)
        ax.set_xticks(range(len(r.units)), [f"{u} ({o:.0f}°)" for u, o in zip(r.units, r.orientations)],
                      rotation=90, fontsize=6)
        ax.set_title(f"{r.model} {r.layer}: {r.kind} units", fontsize=9)
        if i == n - 1:
            bar = fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
            bar.set_label("combed − plain (dataset SD)", fontsize=8)
            bar.ax.tick_params(labelsize=7)
    example = results[0]
    sub = grid[0, n].subgridspec(3, 2)
    for k, mode in enumerate(("plain", *MODES)):
        ax = fig.add_subplot(sub[k // 2, k % 2])
        ax.imshow(example_stimulus(example, 0, mode, 96).transpose(1, 2, 0), interpolation="nearest")
        ax.set_title(mode, fontsize=8)
        no_ticks([ax])
        if k == 0:
            radius = example.radii[0]
            ax.set_ylabel(f"unit {example.units[0]}\n{example.orientations[0]:.0f}°, r "
                          f"{'∞' if not math.isfinite(radius) else f'{radius:.0f}'} px", fontsize=7)
    return fig
