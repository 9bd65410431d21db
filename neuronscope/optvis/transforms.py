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
from dataclasses import dataclass

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
        return self.apply(images, self.draw(generator, *images.shape[-2:])[0])

    def draw(self, generator, h, w):
        return None, (h + 2 * self.width, w + 2 * self.width)

    def apply(self, images, params):
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
        return self.apply(images, self.draw(generator, *images.shape[-2:])[0])

    def draw(self, generator, h, w):
        oy, ox = (int(v) for v in torch.randint(self.d + 1, (2,), generator=generator))
        return (oy, ox, h - self.d, w - self.d), (h - self.d, w - self.d)

    def apply(self, images, params):
        oy, ox, h, w = params
        return images[..., oy:oy + h, ox:ox + w]

    def __repr__(self):
        return f"Jitter({self.d})"


class RandomScale:
    """Resize (bilinear) by a factor drawn from `scales`."""

    def __init__(self, scales: Sequence[float]):
        self.scales = [float(s) for s in scales]

    def __call__(self, images, generator):
        return self.apply(images, self.draw(generator, *images.shape[-2:])[0])

    def draw(self, generator, h, w):
        s = _choice(self.scales, generator)
        size = (max(1, round(h * s)), max(1, round(w * s)))
        return size, size

    def apply(self, images, size):
        if size == tuple(images.shape[-2:]):
            return images
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False)

    def __repr__(self):
        return f"RandomScale({self.scales})"


def rotate(images: torch.Tensor, degrees: float, region: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """Rotate about the image centre by `degrees` counter-clockwise (as displayed), bilinear,
    same size; pixels from outside repeat the border (the padding's grey, after `Pad`).
    `region` (y0, y1, x0, x1): only those output rows and columns (each output pixel is sampled
    on its own, so this is the whole rotation's crop, computed without the rest)."""
    if degrees == 0:
        return images if region is None else images[..., region[0]:region[1], region[2]:region[3]]
    n, _, h, w = images.shape
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    # output pixel -> input pixel is the clockwise rotation (rows grow downward), written in
    # grid_sample's normalised coordinates, which scale x by w/2 and y by h/2
    theta = torch.tensor([[c, -s * h / w, 0.0], [s * w / h, c, 0.0]], dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(images.shape), align_corners=False)
    if region is not None:
        grid = grid[:, region[0]:region[1], region[2]:region[3]]
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class RandomRotate:
    """Rotate by an angle (degrees, counter-clockwise) drawn from `angles`."""

    def __init__(self, angles: Sequence[float]):
        self.angles = [float(a) for a in angles]

    def __call__(self, images, generator):
        return self.apply(images, self.draw(generator, *images.shape[-2:])[0])

    def draw(self, generator, h, w):
        return _choice(self.angles, generator), (h, w)

    def apply(self, images, degrees, region=None):
        return rotate(images, degrees, region)

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

    def plan(self, generator, h: int, w: int) -> Planned | None:
        """Draw every random choice now (the same draws, in the same order, as a call), for
        (h, w) images; None where a transform cannot draw ahead (not one of this module's)."""
        if not all(isinstance(t, (Pad, Jitter, RandomScale, RandomRotate)) for t in self.transforms):
            return None
        steps = []
        for t in self.transforms:
            params, (h, w) = t.draw(generator, h, w)
            steps.append((t, params))
        return Planned(steps, (h, w))


@dataclass(frozen=True)
class Planned:
    """Transforms with their random choices drawn; `size` is the output's (h, w)."""

    steps: list
    size: tuple[int, int]

    def apply(self, images: torch.Tensor, region: tuple[int, int, int, int] | None = None) -> torch.Tensor:
        """The transformed images, or only their `region` (y0, y1, x0, x1): trailing jitters are
        crops, so the region is carried back through them and the last rotation samples only it."""
        if region is None:
            for t, params in self.steps:
                images = t.apply(images, params)
            return images
        last = len(self.steps)
        while last and isinstance(self.steps[last - 1][0], Jitter):
            oy, ox, _, _ = self.steps[last - 1][1]
            region = (region[0] + oy, region[1] + oy, region[2] + ox, region[3] + ox)
            last -= 1
        rotation = self.steps[last - 1] if last and isinstance(self.steps[last - 1][0], RandomRotate) else None
        for t, params in self.steps[:last - (rotation is not None)]:
            images = t.apply(images, params)
        if rotation is not None:
            return rotation[0].apply(images, rotation[1], region)
        return images[..., region[0]:region[1], region[2]:region[3]]

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
