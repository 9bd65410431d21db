"""The report's default statistical basis: several scales and crops of scikit-image's bundled
photographs, written as image files so every later stage (quilts, joint tuning) reopens them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

# (name, box as fractions of the photo (left, top, right, bottom), mirrored): the whole photo,
# its mirror image, and four corner crops at 0.6 of its size (a 1.7x closer look)
VIEWS = (("whole", (0, 0, 1, 1), False), ("mirror", (0, 0, 1, 1), True),
         ("top_left", (0, 0, .6, .6), False), ("top_right", (.4, 0, 1, .6), False),
         ("bottom_left", (0, .4, .6, 1), False), ("bottom_right", (.4, .4, 1, 1), False))
RECIPE = "whole photo, mirrored photo, four corner crops at 0.6 of the photo's size"
THIN_IMAGES = 1000  # fewer images than this: the page warns that the statistics are thin


def write_views(arrays: dict[str, np.ndarray], folder: Path) -> Path:
    """Write every view of every photograph (name -> (H, W, 3) uint8) as folder/NAME_VIEW.png."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in sorted(arrays.items()):
        image = Image.fromarray(array)
        w, h = image.size
        for view, (x0, y0, x1, y1), mirrored in VIEWS:
            crop = image.crop((round(x0 * w), round(y0 * h), round(x1 * w), round(y1 * h)))
            if mirrored:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            crop.save(folder / f"{name}_{view}.png", compress_level=1)
    return folder
