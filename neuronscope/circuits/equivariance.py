"""Rotational equivariance between two oriented families, measured on their expanded weights.

If a layer is built from rotated copies of one circuit, the kernel from a source unit to a
target unit depends only on their orientation difference once it is rotated back by the
target's preferred orientation. We rotate every kernel back, group the kernels by orientation
difference (source minus target, binned), and predict each kernel by the mean of the *other*
kernels in its group (leave-one-out, so a group of one predicts nothing and noise does not fit
itself). A planted equivariant layer scores near 1, random kernels near 0 (slightly below).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neuronscope.circuits.views import FamilyMatrix
from neuronscope.errors import NeuronscopeError


def rotate_kernels(kernels: torch.Tensor, angles_deg) -> torch.Tensor:
    """Rotate each (kh, kw) kernel counter-clockwise (y up, as orientations) by its angle about
    its centre; bilinear, zero outside."""
    kernels = torch.as_tensor(kernels, dtype=torch.float32)
    n, kh, kw = kernels.shape
    a = torch.deg2rad(torch.as_tensor(angles_deg, dtype=torch.float32)).reshape(n, 1, 1).to(kernels.device)
    cy, cx = (kh - 1) / 2, (kw - 1) / 2
    rows, cols = torch.meshgrid(torch.arange(kh, device=kernels.device, dtype=torch.float32),
                                torch.arange(kw, device=kernels.device, dtype=torch.float32), indexing="ij")
    u, v = cols - cx, cy - rows  # y up
    su, sv = u * torch.cos(a) + v * torch.sin(a), -u * torch.sin(a) + v * torch.cos(a)  # rotate back by a
    gx = (cx + su) / max(cx, 0.5) - 1 if kw > 1 else torch.zeros_like(su)
    gy = (cy - sv) / max(cy, 0.5) - 1 if kh > 1 else torch.zeros_like(sv)
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(kernels[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[:, 0]


@dataclass(repr=False)
class Equivariance:
    difference_deg: np.ndarray   # (T, S): source orientation minus target orientation, binned, in [0, period)
    bins_deg: np.ndarray         # centres of the orientation-difference bins that occur
    prototypes: torch.Tensor     # (bins, kh, kw): mean rotated-back kernel per bin
    summed: np.ndarray           # (T, S) summed weights
    correlation: float           # leave-one-out prototype prediction vs kernels, over all entries
    explained_variance: float    # 1 - SSE / SS around the grand mean
    predicted: int               # kernels predicted (those sharing their bin with another)
    bin_deg: float
    period: float
    null_correlations: np.ndarray  # the correlation with target orientations shuffled (seeded)

    def __repr__(self) -> str:
        null = (f", shuffled mean {self.null_correlations.mean():.2f}" if len(self.null_correlations) else "")
        return (f"<Equivariance: correlation {self.correlation:.2f}, explained variance "
                f"{self.explained_variance:.2f}, {self.predicted}/{self.summed.size} kernels predicted{null}>")

    def _repr_html_(self) -> str:
        from neuronscope.notebook import table_html

        flat = {k: v for k, v in self.summary().items() if not isinstance(v, dict)}
        flat.update({f"shuffled {k}": v for k, v in self.summary().get("shuffled_orientations", {}).items()})
        return table_html(["measure", "value"], [[k, v] for k, v in flat.items()], "equivariance")

    def summary(self) -> dict:
        out = {"correlation": round(self.correlation, 4), "explained_variance": round(self.explained_variance, 4),
               "kernels_predicted": self.predicted, "kernels": int(self.summed.size), "bin_deg": self.bin_deg}
        if len(self.null_correlations):
            out["shuffled_orientations"] = {
                "shuffles": len(self.null_correlations),
                "mean_correlation": round(float(self.null_correlations.mean()), 4),
                "p95_correlation": round(float(np.quantile(self.null_correlations, 0.95)), 4),
                "p_value": round(float((1 + (self.null_correlations >= self.correlation).sum())
                                       / (1 + len(self.null_correlations))), 4)}
        return out


def equivariance(matrix: FamilyMatrix, bin_deg: float = 45.0, shuffles: int = 0, seed: int = 0) -> Equivariance:
    """Score how well one rotated prototype per orientation difference predicts every kernel of
    a family matrix (both families need preferred orientations). With `shuffles`, the score is
    also computed that many times with the target units' orientations randomly permuted (a null
    distribution: what the same kernels score without the orientation structure)."""
    ts = torch.as_tensor(matrix.target.require_orientations(), dtype=torch.float32)
    ss = torch.as_tensor(matrix.source.require_orientations(), dtype=torch.float32)
    period = min(matrix.source.period, matrix.target.period)
    if bin_deg <= 0 or abs(period / bin_deg - round(period / bin_deg)) > 1e-6:
        raise NeuronscopeError(f"bin_deg must divide {period:g}, got {bin_deg:g}")
    k = matrix.kernels.float().cpu()
    corr, ev, ok, bins, sums, counts = _score(k, ts, ss, bin_deg, period)
    g = torch.Generator().manual_seed(seed)
    null = np.array([_score(k, ts[torch.randperm(len(ts), generator=g)], ss, bin_deg, period)[0]
                     for _ in range(shuffles)])
    used = counts > 0
    prototypes = (sums[used] / counts[used][:, None]).reshape(-1, *k.shape[2:]).float()
    t, s = k.shape[:2]
    return Equivariance((bins.reshape(t, s) * bin_deg).numpy().astype(float),
                        (torch.nonzero(used).flatten() * bin_deg).numpy().astype(float), prototypes,
                        k.sum(dim=(-2, -1)).numpy(), corr, ev, ok, float(bin_deg), period, null)


def _score(k: torch.Tensor, ts: torch.Tensor, ss: torch.Tensor, bin_deg: float, period: float):
    """Leave-one-out (correlation, explained variance, kernels predicted, bins, bin sums, counts)."""
    nbins = round(period / bin_deg)
    t, s = k.shape[:2]
    rotated = rotate_kernels(k.reshape(t * s, *k.shape[2:]), (-ts[:, None]).expand(t, s).reshape(-1))
    diff = (ss[None, :] - ts[:, None]) % period
    bins = torch.round(diff / bin_deg).long().reshape(-1) % nbins
    x = rotated.flatten(1).double()
    sums = torch.zeros(nbins, x.shape[1], dtype=x.dtype).index_add_(0, bins, x)
    counts = torch.bincount(bins, minlength=nbins).to(x.dtype)
    ok = counts[bins] >= 2
    pred = (sums[bins] - x) / (counts[bins] - 1).clamp_min(1)[:, None]
    xs, ps = x[ok].flatten(), pred[ok].flatten()
    corr = float(torch.corrcoef(torch.stack([xs, ps]))[0, 1]) if xs.numel() > 1 else math.nan
    sst = float(((xs - xs.mean()) ** 2).sum()) if xs.numel() else 0.0
    ev = 1 - float(((xs - ps) ** 2).sum()) / sst if sst > 0 else math.nan
    return corr, ev, int(ok.sum()), bins, sums, counts
