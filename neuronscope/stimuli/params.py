"""Stimulus parameters: broadcasting per-stimulus values to a batch, and parameter sweeps."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from neuronscope.errors import NeuronscopeError

Values = float | Sequence[float] | torch.Tensor


def vector(name: str, value: Values) -> torch.Tensor:
    """``value`` as a 1-D float64 CPU tensor (a scalar becomes length 1)."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64, device="cpu")
    except (TypeError, ValueError, RuntimeError) as exc:
        raise NeuronscopeError(f"{name} must be numbers, got {value!r}") from exc
    if t.dim() > 1:
        raise NeuronscopeError(f"{name} must be a number or a 1-D sequence, got shape {tuple(t.shape)}")
    if t.isnan().any():
        raise NeuronscopeError(f"{name} contains NaN")
    return t.reshape(-1)


def rows(name: str, value: Values, width: int) -> torch.Tensor:
    """``value`` as an (n, width) float64 CPU tensor; one row of ``width`` numbers becomes n = 1."""
    try:
        t = torch.as_tensor(value, dtype=torch.float64, device="cpu")
    except (TypeError, ValueError, RuntimeError) as exc:
        raise NeuronscopeError(f"{name} must be {width} numbers or an (N, {width}) array, got {value!r}") from exc
    if t.dim() not in (1, 2) or t.shape[-1] != width:
        raise NeuronscopeError(f"{name} must have shape ({width},) or (N, {width}), got {tuple(t.shape)}")
    if not t.isfinite().all():
        raise NeuronscopeError(f"{name} must be finite")
    return t.reshape(-1, width)


def broadcast(**tensors: torch.Tensor) -> dict[str, torch.Tensor]:
    """Expand tensors whose first dimension is 1 or N to N; N is the largest first dimension."""
    n = max(t.shape[0] for t in tensors.values())
    for name, t in tensors.items():
        if t.shape[0] not in (1, n):
            raise NeuronscopeError(f"{name} has {t.shape[0]} values; expected 1 or {n} to match the batch")
    return {name: t.expand(n, *t.shape[1:]) for name, t in tensors.items()}


def sweep(*axes: Values, device: torch.device | str | None = None) -> tuple[torch.Tensor, ...]:
    """Every combination of the given axes, flattened to equal-length 1-D float tensors.

    The first axis varies slowest, so ``theta, radius = sweep(orientations, radii)`` lays
    out ``len(radii)`` consecutive stimuli per orientation; pass the results straight to a
    renderer, e.g. ``curves(theta, radius)``. To sweep colours, sweep an index axis and
    look colours up with it. The result is on ``device``, by default the first tensor
    axis's device (else the CPU).
    """
    if not axes:
        raise NeuronscopeError("sweep needs at least one axis")
    if device is None:
        device = next((a.device for a in axes if isinstance(a, torch.Tensor)), "cpu")
    flat = [vector(f"axis {i}", a) for i, a in enumerate(axes)]
    if any(a.numel() == 0 for a in flat):
        raise NeuronscopeError("sweep axes must not be empty")
    grids = torch.meshgrid(*flat, indexing="ij")
    return tuple(g.reshape(-1).to(device=device, dtype=torch.float32) for g in grids)
