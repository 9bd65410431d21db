"""Colours for stimuli: parsing, compositing ink over background, and palettes for
fill and colour-invariance experiments. Colours are RGB in [0, 1], shape (N, 3) or (3,)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.colors import to_rgb

from neuronscope.errors import NeuronscopeError
from neuronscope.stimuli.params import rows

# ITU-R BT.601 luma weights, used to keep random colour pairs distinguishable.
_LUMA = (0.299, 0.587, 0.114)

Color = str | Sequence[float] | Sequence[str] | Sequence[Sequence[float]] | torch.Tensor


def to_colors(spec: Color, device: torch.device | str | None = None) -> torch.Tensor:
    """An (n, 3) float32 tensor from a colour name or hex string, a list of them, an RGB
    triple, or an (N, 3) array of RGB rows in [0, 1]."""
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(s, str) for s in spec):
        try:
            spec = [to_rgb(s) for s in spec]
        except ValueError as exc:
            raise NeuronscopeError(f"unknown colour in {spec!r}: {exc}") from exc
    t = rows("colour", spec, 3)
    if t.numel() == 0 or t.min() < 0 or t.max() > 1:
        raise NeuronscopeError("colour values must be in [0, 1]")
    return t.to(device=device, dtype=torch.float32)


def composite(alpha: torch.Tensor, foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """Paint ink coverage ``alpha`` (N, H, W) in ``foreground`` over ``background``
    (each (N, 3) or (1, 3)) and return (N, 3, H, W) images."""
    fg = foreground.to(alpha).view(-1, 3, 1, 1)
    bg = background.to(alpha).view(-1, 3, 1, 1)
    return bg + (fg - bg) * alpha.unsqueeze(1)


def hues(n: int, saturation: float = 1.0, value: float = 1.0, device: torch.device | str | None = None) -> torch.Tensor:
    """``n`` colours with evenly spaced hues (starting at red), as an (n, 3) tensor."""
    if n < 1 or not (0 <= saturation <= 1 and 0 <= value <= 1):
        raise NeuronscopeError("hues needs n >= 1 and saturation, value in [0, 1]")
    h = torch.arange(n, dtype=torch.float32, device=device).view(-1, 1) * (6.0 / n)
    k = (torch.tensor([5.0, 3.0, 1.0], device=device) + h) % 6
    return value - value * saturation * torch.minimum(k, 4 - k).clamp(0.0, 1.0)


def random_color_pairs(n: int, *, seed: int, min_contrast: float = 0.3,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random (foreground, background) colour pairs, each (n, 3), whose luma differs
    by at least ``min_contrast`` so that the shape stays visible; deterministic in ``seed``."""
    if n < 1 or not 0 <= min_contrast <= 0.7:
        raise NeuronscopeError("random_color_pairs needs n >= 1 and min_contrast in [0, 0.7]")
    gen = torch.Generator().manual_seed(seed)
    luma = torch.tensor(_LUMA)
    fg, bg = torch.rand(n, 3, generator=gen), torch.rand(n, 3, generator=gen)
    while True:
        low = ((fg - bg) @ luma).abs() < min_contrast
        if not low.any():
            return fg.to(device), bg.to(device)
        m = int(low.sum())
        fg[low], bg[low] = torch.rand(m, 3, generator=gen), torch.rand(m, 3, generator=gen)
