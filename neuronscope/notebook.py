"""Notebook display: results show themselves as short HTML (a table, an inline figure or image),
and `ns.show(images)` draws a batch of image tensors inline.

    ns.show(ns.visualize(model, ["block6_expand:36", "block6_expand:455"]))
    family                     # a Family in a cell: its members as a table
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from neuronscope.errors import NeuronscopeError


def png_html(pixels: np.ndarray, width: int | None = None, title: str = "") -> str:
    """An <img> holding (H, W, 3) uint8 `pixels` as an inline PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    size = f' width="{width}"' if width else ""
    alt = f' alt="{html.escape(title)}" title="{html.escape(title)}"' if title else ""
    return f'<img src="data:image/png;base64,{data}"{size}{alt}>'


def figure_html(fig, dpi: int = 80) -> str:
    """A matplotlib figure as an inline PNG <img>."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}">'


def table_html(header: list[str], rows: list[list], title: str = "") -> str:
    """A small HTML table (cells escaped; floats to 4 significant digits)."""
    def cell(v):
        return "" if v is None else f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    caption = f"<b>{html.escape(title)}</b>" if title else ""
    return f"<div>{caption}<table><tr>{head}</tr>{body}</table></div>"


class Images:
    """A batch of images that displays itself as one inline grid (`ns.show` returns one outside a notebook)."""

    def __init__(self, images, labels=None, ncols: int | None = None, scale: int = 1):
        self.images = as_batch(images)
        self.labels = [str(x) for x in labels] if labels is not None else None
        if self.labels is not None and len(self.labels) != len(self.images):
            raise NeuronscopeError(f"{len(self.labels)} labels for {len(self.images)} images")
        self.ncols = ncols or min(len(self.images), 8)
        self.scale = scale

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        return f"<Images: {n} of {h}x{w}>"

    def _repr_html_(self) -> str:
        n, _, h, w = self.images.shape
        cells = []
        for i, image in enumerate(self.images):
            pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            label = self.labels[i] if self.labels else ""
            caption = f"<figcaption>{html.escape(label)}</figcaption>" if label else ""
            cells.append(f'<figure style="display:inline-block;margin:2px">'
                         f"{png_html(pixels, w * self.scale, label)}{caption}</figure>")
        rows = ["".join(cells[i:i + self.ncols]) for i in range(0, n, self.ncols)]
        return "<div>" + "<br>".join(rows) + "</div>"

    def save(self, path) -> Path:
        from neuronscope.stimuli import save_grid

        return save_grid(self.images, path, ncols=self.ncols)


def as_batch(images) -> torch.Tensor:
    """(N, 3, H, W) float in [0, 1] from a tensor or array: (N, 3, H, W), (3, H, W), (H, W, 3),
    (N, H, W, 3), (H, W) or (N, 1, H, W) (grey), or a list of (3, H, W)."""
    if isinstance(images, (list, tuple)):
        images = torch.stack([as_batch(x)[0] for x in images])
    t = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).detach().cpu()
    if t.dtype == torch.uint8:
        t = t.float() / 255
    t = t.float()
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[None] if t.shape[0] in (1, 3) else t.permute(2, 0, 1)[None]
    elif t.dim() == 4 and t.shape[1] not in (1, 3) and t.shape[-1] in (1, 3):
        t = t.permute(0, 3, 1, 2)
    if t.dim() != 4 or t.shape[1] not in (1, 3) or t.shape[0] == 0:
        raise NeuronscopeError(f"cannot show images of shape {tuple(t.shape)}; expected (N, 3, H, W) or (3, H, W)")
    return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t


def show(images, labels=None, ncols: int | None = None, scale: int = 1):
    """Draw images (a tensor or array of one or many, values in [0, 1]) inline in a notebook, with
    optional `labels`; outside a notebook return the `Images` grid (`.save(path)` writes a PNG)."""
    grid = Images(images, labels, ncols, scale)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return grid
    if get_ipython() is None:
        return grid
    display(grid)
    return None
