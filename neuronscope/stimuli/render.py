"""Shared batch renderer: broadcasts per-stimulus parameters, evaluates a coverage
function on the pixel grid in memory-bounded chunks, and paints colours."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.stimuli.colors import Color, composite, to_colors
from neuronscope.stimuli.geometry import local_frame
from neuronscope.stimuli.params import broadcast, rows

# Pixels (stimuli x H x W) evaluated at once; bounds the temporaries to tens of MB.
_CHUNK_PIXELS = 1 << 22

Coverage = Callable[..., torch.Tensor]


def image_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` from an int (square) or a pair of positive ints."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and s > 0 for s in hw):
        raise NeuronscopeError(f"size must be a positive int or (H, W), got {size!r}")
    return hw


def resolve_device(device: torch.device | str | None, *values: object) -> torch.device:
    """``device`` if given, else the device of the first tensor among ``values``, else CPU."""
    if device is None:
        device = next((v.device for v in values if isinstance(v, torch.Tensor)), "cpu")
    return torch.device(device)


def render(coverage: Coverage, params: dict[str, torch.Tensor], *, size: tuple[int, int],
           center: Sequence[float] | torch.Tensor | None, foreground: Color, background: Color,
           device: torch.device) -> torch.Tensor:
    """Render (N, 3, H, W) images in [0, 1].

    ``params`` are 1-D tensors of length 1 or N and must include ``theta`` (radians),
    which orients the local frame (see ``geometry.local_frame``); ``coverage(u, v, **rest)``
    gets that frame and the other parameters shaped (n, 1, 1), and returns ink coverage
    (n, H, W) in [0, 1].
    """
    h, w = size
    if center is None:
        center = ((h - 1) / 2, (w - 1) / 2)
    batch = broadcast(**params, center=rows("center", center, 2),
                      foreground=to_colors(foreground).double(), background=to_colors(background).double())
    if not batch["theta"].isfinite().all():
        raise NeuronscopeError("orientation_deg must be finite")
    batch = {k: t.to(device=device, dtype=torch.float32) for k, t in batch.items()}
    n = batch["theta"].shape[0]
    out = torch.empty(n, 3, h, w, device=device)
    step = max(1, _CHUNK_PIXELS // (h * w))
    for start in range(0, n, step):
        part = {k: t[start:start + step] for k, t in batch.items()}
        u, v = local_frame(size, part.pop("center"), part.pop("theta"))
        fg, bg = part.pop("foreground"), part.pop("background")
        alpha = coverage(u, v, **{k: t.view(-1, 1, 1) for k, t in part.items()})
        out[start:start + step] = composite(alpha, fg, bg)
    return out
