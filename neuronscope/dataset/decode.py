"""Dataset images in the standard view (`neuronscope.images.standard_view`), inline or in worker
processes, skipping bad files.

Images travel as uint8, exactly the standard view's 8-bit values in a quarter of float32's bytes;
the standard view decodes JPEGs at a reduced DCT scale when that still covers the target size, so
that the model, not decoding, limits throughput.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from neuronscope.dataset.sources import ImageSource, content_digest
from neuronscope.images import standard_view_uint8


class _Images(torch.utils.data.Dataset):
    def __init__(self, source: ImageSource, resize: int, size: int):
        self.source, self.resize, self.size = source, resize, size

    def __len__(self):
        return len(self.source)

    def __getitem__(self, index):
        item = self.source.item(index)
        digest = content_digest(item)  # as it is read, in the worker (a file comes from the page cache)
        try:
            pixels = standard_view_uint8(item, self.resize, self.size)
        except Exception as exc:  # any undecodable input is skipped, never fatal
            return index, None, f"{type(exc).__name__}: {exc}".strip(), digest
        return index, pixels, None, digest


def _collate(items):
    """(indices, uint8 (N, 3, H, W) or None, failures, digests); stacked in numpy, which, unlike
    torch's thread pool, does not compete with the model for cores when decoding runs in the main
    process. `digests`: (index, `content_digest`) of every image of the chunk, read or not."""
    good = [(index, pixels) for index, pixels, _, _ in items if pixels is not None]
    failures = [(index, error) for index, pixels, error, _ in items if pixels is None]
    indices = torch.tensor([index for index, _ in good], dtype=torch.int64)
    pixels = torch.from_numpy(np.stack([p for _, p in good]).transpose(0, 3, 1, 2).copy()) if good else None
    return indices, pixels, failures, [(index, digest) for index, _, _, digest in items]


def default_workers() -> int:
    """Helper processes (decoding for a GPU model, drawing figures): all cores but one, at most 8."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


def batches(source: ImageSource, chunks: list[list[int]], *, resize: int, size: int, workers: int, pin: bool = False):
    """Yield (indices, uint8 (N, 3, size, size) or None, [(index, error), ...], [(index, digest), ...])
    per chunk, in order."""
    loader = torch.utils.data.DataLoader(
        _Images(source, resize, size),
        batch_sampler=chunks,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin,
        prefetch_factor=4 if workers else None,
    )
    yield from loader
