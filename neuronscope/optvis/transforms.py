"""Random image transforms applied before every optimisation step, so the rendered image must
excite the unit robustly (lucid's "transformation robustness") instead of exploiting pixel-exact
high-frequency patterns.

A transform is called as `t(images, generator)` on (N, 3, H, W) images and draws its random choices
from the `torch.Generator` (a CPU one; it only picks offsets, scales and angles), applying the same
choice to the whole batch. Sizes change: `Pad` grows the image, `Jitter` crops it, `RandomScale`
resizes it; only `RandomRotate` keeps it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from neuronscope.errors import NeuronscopeError

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _choice(options: Sequence, generator: torch.Generator):
    return options[int(torch.randint(len(options), (1,), generator=generator))]


class Pad:
    """Pad every side by `width` pixels of the constant `value` (0.5: mid grey)."""

    def __init__(self, width: int, value: float = 0.5):
        self.width, self.value = int(width), float(value)

    def __call__(self, images, generator=None):
        return F.pad(images, (self.width,) * 4, value=self.value)

    def __repr__(self):
        return f"Pad({self.width}, value={self.value})"


class Jitter:
    """Crop `d` pixels off each axis at a random offset in 0..d (lucid's jitter: a random
    translation by up to d pixels; the image shrinks by d)."""

    def __init__(self, d: int):
        if d < 1:
            raise NeuronscopeError(f"jitter must be at least 1 pixel, got {d}")
        self.d = int(d)

    def __call__(self, images, generator):
        oy, ox = (int(v) for v in torch.randint(self.d + 1, (2,), generator=generator))
        h, w = images.shape[-2:]
        return images[..., oy:oy + h - self.d, ox:ox + w - self.d]

    def __repr__(self):
        return f"Jitter({self.d})"


class RandomScale:
    """Resize (bilinear) by a factor drawn from `scales`."""

    def __init__(self, scales: Sequence[float]):
        self.scales = [float(s) for s in scales]

    def __call__(self, images, generator):
        s = _choice(self.scales, generator)
        h, w = images.shape[-2:]
        size = (max(1, round(h * s)), max(1, round(w * s)))
        if size == (h, w):
            return images
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False)

    def __repr__(self):
        return f"RandomScale({self.scales})"


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate about the image centre by `degrees` counter-clockwise (as displayed), bilinear,
    same size; pixels from outside repeat the border (the padding's grey, after `Pad`)."""
    if degrees == 0:
        return images
    n, _, h, w = images.shape
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    # output pixel -> input pixel is the clockwise rotation (rows grow downward), written in
    # grid_sample's normalised coordinates, which scale x by w/2 and y by h/2
    theta = torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomRotate:
    """Rotate by an angle (degrees, counter-clockwise) drawn from `angles`."""

    def __init__(self, angles: Sequence[float]):
        self.angles = [float(a) for a in angles]

    def __call__(self, images, generator):
        return rotate(images, _choice(self.angles, generator))

    def __repr__(self):
        return f"RandomRotate({self.angles})"


class Compose:
    """Apply transforms in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, images, generator):
        for t in self.transforms:
            images = t(images, generator)
        return images

    def __repr__(self):
        return f"Compose({self.transforms})"


def standard() -> Compose:
    """Lucid's standard_transforms: pad 12 (grey), jitter 8, scale by 1 + (i - 5) / 50 for
    i = 0..10 (0.9 to 1.1), rotate by -10..10 degrees (with 0 five extra times), jitter 4."""
    return Compose([
        Pad(12, value=0.5),
        Jitter(8),
        RandomScale([1 + (i - 5) / 50 for i in range(11)]),
        RandomRotate(list(range(-10, 11)) + 5 * [0]),
        Jitter(4),
    ])


def resolve(transforms: str | Sequence[Transform] | Transform | None) -> Transform:
    """"standard", None / "none" (identity), a list of transforms, or one transform."""
    if transforms is None or transforms == "none":
        return Compose([])
    if transforms == "standard":
        return standard()
    if isinstance(transforms, str):
        raise NeuronscopeError(f"unknown transforms {transforms!r}; use 'standard', 'none' or a list of transforms")
    if callable(transforms):
        return transforms
    return Compose(transforms)
