"""How clean a rendered image is, measured rather than judged by eye.

`high_frequency_share`: the share of an image's spectral energy (mean removed, summed over colour
channels) at radial frequencies above `cutoff` cycles per pixel (Nyquist is 0.5); checkerboard and
pixel noise put energy there, smooth shapes do not. `total_variation`: the mean absolute
difference between neighbouring pixels (vertical and horizontal, all channels), in image units.
"""

from __future__ import annotations

import torch

CUTOFF = 0.25  # cycles per pixel: half of Nyquist


def high_frequency_share(images: torch.Tensor, cutoff: float = CUTOFF) -> torch.Tensor:
    """(N,) share in [0, 1] of each (N, 3, H, W) image's energy above `cutoff` (0 for a flat image)."""
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().square().sum(dim=1)  # (N, H, W)
    h, w = x.shape[-2:]
    f = (torch.fft.fftfreq(h, dtype=torch.float64).view(-1, 1) ** 2
         + torch.fft.fftfreq(w, dtype=torch.float64).view(1, -1) ** 2).sqrt()
    total = power.sum(dim=(-2, -1))
    high = (power * (f > cutoff)).sum(dim=(-2, -1))
    return torch.where(total > 0, high / total.clamp(min=1e-300), torch.zeros_like(total)).float()


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """(N,) mean absolute neighbour difference of each (N, C, H, W) image."""
    x = images.double()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1)
    return (torch.cat([dy, dx], dim=1).mean(dim=1)).float()
