"""Tile a batch of images into one grid image and save it as a PNG."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

from neuronscope.errors import NeuronscopeError


def tile(images: torch.Tensor, ncols: int | None = None, padding: int = 2, pad_value: float = 0.5) -> torch.Tensor:
    """Lay (N, 3, H, W) images out row by row in ``ncols`` columns (default: a near-square
    grid) with ``padding`` px of ``pad_value`` between and around them; returns (3, H', W')."""
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        raise NeuronscopeError(f"expected a non-empty (N, 3, H, W) batch, got shape {tuple(images.shape)}")
    n, _, h, w = images.shape
    ncols = math.ceil(math.sqrt(n)) if ncols is None else ncols
    if ncols < 1 or padding < 0:
        raise NeuronscopeError("ncols must be >= 1 and padding >= 0")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    cells = images.new_full((nrows * ncols, 3, h + padding, w + padding), pad_value)
    cells[:n, :, padding:, padding:] = images
    grid = cells.view(nrows, ncols, 3, h + padding, w + padding).permute(2, 0, 3, 1, 4)
    grid = grid.reshape(3, nrows * (h + padding), ncols * (w + padding))
    return torch.nn.functional.pad(grid, (0, padding, 0, padding), value=pad_value)


def save_grid(images: torch.Tensor, path: str | Path, ncols: int | None = None, padding: int = 2,
              pad_value: float = 0.5) -> Path:
    """Save ``tile(images, ncols, padding, pad_value)`` as an 8-bit RGB PNG at ``path``
    (parent folders are created) and return the path."""
    grid = tile(images.detach().float().cpu().clamp(0, 1), ncols, padding, pad_value)
    pixels = (grid * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path
