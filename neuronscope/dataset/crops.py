"""The pixels behind a stored example: its image as the run saw it, cropped to the receptive field."""

from __future__ import annotations

import numpy as np
import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.images import standard_view
from neuronscope.models import crop_to_field


def load_pixels(stats, image_id: str) -> torch.Tensor:
    """(3, size, size) in [0, 1], resized and centre-cropped like the run; grey if it cannot be read
    (`Stats.check_images` first, to refuse images that went missing or changed since the run)."""
    settings = stats.manifest["settings"]
    try:
        return standard_view(stats.image_item(image_id), settings["resize"], settings["size"])
    except (OSError, ValueError, NeuronscopeError):
        return torch.full((3, settings["size"], settings["size"]), 0.5)


def example_crop(stats, example, pixels: torch.Tensor | None = None) -> torch.Tensor:
    """(3, h, w) receptive-field crop of an `Example` (padding shown grey); `pixels`: its image, if loaded."""
    pixels = load_pixels(stats, example.image_id) if pixels is None else pixels
    return crop_to_field(pixels, stats.receptive_field, example.y, example.x, fill=0.5)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
