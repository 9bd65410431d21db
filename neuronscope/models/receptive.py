"""Receptive-field geometry of a layer, in input pixels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class ReceptiveField:
    """Where each position of a layer looks in the input.

    Position (y, x) sees input rows `start[0] + y*stride[0]` to `... + size[0] - 1` (and the same
    for columns). `start` is negative where the field reaches into the padding.

    `global_dependence`: the layer also depends on the whole input (through a global pooling,
    as in squeeze-excite, or attention); size, stride and start then describe its local field,
    the path that remains when that global mixing is held fixed.
    """

    layer: str
    input_size: tuple[int, int]
    grid: tuple[int, int]
    size: tuple[int, int]
    stride: tuple[int, int]
    start: tuple[int, int]
    global_dependence: bool = False

    def box(self, y: int, x: int) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of position (y, x)'s field; bottom/right exclusive."""
        top = self.start[0] + y * self.stride[0]
        left = self.start[1] + x * self.stride[1]
        return top, left, top + self.size[0], left + self.size[1]

    def center(self, y: int, x: int) -> tuple[float, float]:
        """Centre of position (y, x)'s field in input pixel coordinates (pixel centres are integers)."""
        top, left, bottom, right = self.box(y, x)
        return (top + bottom - 1) / 2, (left + right - 1) / 2

    def central_position(self) -> tuple[int, int]:
        return (self.grid[0] - 1) // 2, (self.grid[1] - 1) // 2

    def contains(self, y: int, x: int) -> bool:
        return 0 <= y < self.grid[0] and 0 <= x < self.grid[1]


def crop_to_field(images: torch.Tensor, field: ReceptiveField, y: int, x: int, fill: float = 0.0) -> torch.Tensor:
    """Crop (N, 3, H, W) or (3, H, W) images to the receptive field of position (y, x).

    Parts of the field outside the image (the padding) are filled with `fill`.
    """
    top, left, bottom, right = field.box(y, x)
    h, w = images.shape[-2:]
    pads = (max(-left, 0), max(right - w, 0), max(-top, 0), max(bottom - h, 0))
    crop = images[..., max(top, 0):min(bottom, h), max(left, 0):min(right, w)]
    if any(pads):
        squeeze = crop.dim() == 3
        crop = F.pad(crop.unsqueeze(0) if squeeze else crop, pads, value=fill)
        crop = crop[0] if squeeze else crop
    return crop
