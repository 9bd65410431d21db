"""Seeded percentile-bootstrap intervals over images, paired across conditions."""

from __future__ import annotations

import torch

from neuronscope.errors import NeuronscopeError


def resample_indices(n: int, n_boot: int = 1000, seed: int = 0) -> torch.Tensor:
    """(n_boot, n) image indices drawn with replacement; the same draws serve every condition,
    so differences between conditions are bootstrapped paired."""
    if n < 1 or n_boot < 1:
        raise NeuronscopeError(f"bootstrap needs at least one image and one resample, got n={n}, n_boot={n_boot}")
    return torch.randint(n, (n_boot, n), generator=torch.Generator().manual_seed(seed))


def percentile_interval(samples: torch.Tensor, level: float = 0.95) -> tuple[float, float]:
    """The central `level` interval of bootstrap samples (NaN samples, e.g. from a zero
    denominator, are dropped)."""
    samples = samples[~samples.isnan()].double()
    if samples.numel() == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    lo, hi = torch.quantile(samples, torch.tensor([tail, 1 - tail], dtype=torch.float64))
    return float(lo), float(hi)


def mean_interval(values: torch.Tensor, indices: torch.Tensor, level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval of the mean of per-image `values` (e.g. correctness as 0/1)."""
    return percentile_interval(values.double()[indices].mean(dim=1), level)


def recovered_fraction(unchanged: torch.Tensor, ablated: torch.Tensor, replaced: torch.Tensor) -> torch.Tensor:
    """(replaced - ablated) / (unchanged - ablated) of per-image correctness, over the last
    dimension: the share of the ablation's drop that the replacement wins back (NaN without a drop)."""
    u, a, r = (c.double().mean(dim=-1) for c in (unchanged, ablated, replaced))
    drop = u - a
    return torch.where(drop > 0, (r - a) / drop.where(drop > 0, torch.ones_like(drop)), torch.nan)
