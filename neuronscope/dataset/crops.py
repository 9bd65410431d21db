"""The pixels behind a stored example: its image as the run saw it, cropped to the receptive field."""

from __future__ import annotations

import weakref
from collections import OrderedDict

import numpy as np
import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.images import standard_view
from neuronscope.models import crop_to_field


_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # stats -> its recently loaded views
KEEP_VIEWS = 128  # per result: a quilt's or a report's examples come from a few images, drawn again and again


def load_pixels(stats, image_id: str) -> torch.Tensor:
    """(3, size, size) in [0, 1], resized and centre-cropped like the run; grey if it cannot be read
    (`Stats.check_images` first, to refuse images that went missing or changed since the run).
    The last `KEEP_VIEWS` views of each result are kept, so its quilts decode each image once."""
    views = _VIEWS.setdefault(stats, OrderedDict())
    key = (image_id, str(stats.images_root))
    if key in views:
        views.move_to_end(key)
        return views[key].clone()
    settings = stats.manifest["settings"]
    try:
        view = standard_view(stats.image_item(image_id), settings["resize"], settings["size"])
    except (OSError, ValueError, NeuronscopeError):
        return torch.full((3, settings["size"], settings["size"]), 0.5)
    views[key] = view
    if len(views) > KEEP_VIEWS:
        views.popitem(last=False)
    return view.clone()


def example_crop(stats, example, pixels: torch.Tensor | None = None, *, inside: bool = False) -> torch.Tensor:
    """(3, h, w) receptive-field crop of an `Example`; `pixels`: its image, if loaded. The part of
    the field outside the image (the padding the network saw) is grey, unless `inside`: then the
    window is moved into the image (`inside_box`), showing only real pixels."""
    pixels = load_pixels(stats, example.image_id) if pixels is None else pixels
    if not inside:
        return crop_to_field(pixels, stats.receptive_field, example.y, example.x, fill=0.5)
    top, left, bottom, right = inside_box(stats.receptive_field, example.y, example.x)
    return pixels[..., top:bottom, left:right]


def inside_box(field, y: int, x: int) -> tuple[int, int, int, int]:
    """Position (y, x)'s field box (top, left, bottom, right) moved the least distance that puts it
    inside the image: the same size, covering every in-image pixel of the field. A field larger
    than the image is cut to the image instead."""
    box = field.box(y, x)
    out = []
    for axis in (0, 1):
        lo, hi, extent = box[axis], box[axis + 2], field.input_size[axis]
        if hi - lo >= extent:
            lo, hi = 0, extent
        else:
            shift = max(0, -lo) - max(0, hi - extent)
            lo, hi = lo + shift, hi + shift
        out.append((lo, hi))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8."""
    return (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
