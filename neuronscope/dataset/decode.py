"""Decode, resize and centre-crop dataset images, inline or in worker processes, skipping bad files.

Images travel as uint8 (a quarter of float32's bytes) and JPEGs are decoded at a reduced DCT
scale when that still covers the target size (`Image.draft`), so that the model, not decoding,
limits throughput. This is the standard ImageNet evaluation geometry: resize the
short side to `resize` (bilinear, antialiased), then take the central `size` x `size` square.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

from neuronscope.dataset.sources import ImageSource


def decode(item, resize: int, size: int) -> np.ndarray:
    """(size, size, 3) uint8 RGB from a file path or an (H, W, 3) uint8 array."""
    if isinstance(item, np.ndarray):
        image = Image.fromarray(item)
    else:
        with Image.open(item) as opened:
            width, height = opened.size
            scale = resize / min(width, height)
            opened.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
            image = opened.convert("RGB")
    width, height = image.size
    scale = resize / min(width, height)
    target = (max(resize, round(width * scale)), max(resize, round(height * scale)))
    if target != image.size:
        image = image.resize(target, Image.BILINEAR)
    left, top = round((target[0] - size) / 2), round((target[1] - size) / 2)  # as images.center_crop
    return np.array(image.crop((left, top, left + size, top + size)))


class _Images(torch.utils.data.Dataset):
    def __init__(self, source: ImageSource, resize: int, size: int):
        self.source, self.resize, self.size = source, resize, size

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        try:
            pixels = decode(self.source.item(index), self.resize, self.size)
        except Exception as exc:  # any undecodable input is skipped, never fatal
            return index, None, f"{type(exc).__name__}: {exc}".strip()
        return index, pixels, None


def _collate(items):
    """(indices, uint8 (N, 3, H, W) or None, failures); stacked in numpy, which, unlike torch's
    thread pool, does not compete with the model for cores when decoding runs in the main process."""
    good = [(index, pixels) for index, pixels, _ in items if pixels is not None]
    failures = [(index, error) for index, pixels, error in items if pixels is None]
    indices = torch.tensor([index for index, _ in good], dtype=torch.int64)
    pixels = torch.from_numpy(np.stack([p for _, p in good]).transpose(0, 3, 1, 2).copy()) if good else None
    return indices, pixels, failures


def default_workers() -> int:
    """Helper processes (decoding for a GPU model, drawing figures): all cores but one, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def batches(source: ImageSource, chunks: list[list[int]], *, resize: int, size: int, workers: int, pin: bool = False):
    """Yield (indices, uint8 (N, 3, size, size) or None, [(index, error), ...]) per chunk, in order."""
    loader = torch.utils.data.DataLoader(
        _Images(source, resize, size),
        batch_sampler=chunks,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
    )
    yield from loader
