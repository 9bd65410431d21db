"""Redirected ReLU: a ReLU / ReLU6 whose gradient does not vanish on a dead unit.

A visualisation starting from noise may leave the unit below zero, where a ReLU passes no
gradient and the optimisation never starts. Lucid's remedy (lucid.misc.redirected_relu_grad)
overrides the ReLU's gradient. neuronscope cannot edit the models' ReLUs, so it applies the
same rule to the objective's own final non-linearity: the objective reads the captured
pre-activation value and applies `activate(x, "relu", redirect=True)` itself.

What `RedirectedReLU.backward` computes, with g the incoming gradient dLoss/dy of a loss that
is minimised (so g > 0 pushes y down):
- the ordinary gradient: g where 0 <= x <= upper, else 0 (upper = inf for ReLU, 6 for ReLU6);
- if that ordinary gradient is non-zero anywhere in a batch element (row 0 of x), the element
  gets exactly it;
- otherwise (the element is dead for this objective) it gets g everywhere except where x < 0
  and g > 0, or x > upper and g < 0 (the gradient would push x further out of the active range).
The forward value is always the true activation. `visualize` also stops redirecting after its
first `redirect_steps` steps, like lucid's "temporary" override.
"""

from __future__ import annotations

import math

import torch

from neuronscope.errors import NeuronscopeError

UPPER = {"relu": math.inf, "relu6": 6.0}


class RedirectedReLU(torch.autograd.Function):
    """clamp(x, 0, upper) with the redirected gradient described in the module docstring."""

    @staticmethod
    def forward(ctx, x, upper):
        ctx.save_for_backward(x)
        ctx.upper = upper
        return x.clamp(0, upper)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        below, above = x < 0, x > ctx.upper
        ordinary = torch.where(below | above, torch.zeros_like(g), g)
        pushing_out = (below & (g > 0)) | (above & (g < 0))
        redirected = torch.where(pushing_out, torch.zeros_like(g), g)
        alive = ordinary.reshape(x.shape[0], -1).ne(0).any(dim=1).view(-1, *[1] * (x.dim() - 1))
        return torch.where(alive, ordinary, redirected), None


def activate(x: torch.Tensor, activation: str | None, redirect: bool = False) -> torch.Tensor:
    """Apply "relu", "relu6" or None (identity) to `x` (batch first), optionally redirected."""
    if activation is None:
        return x
    if activation not in UPPER:
        raise NeuronscopeError(f"unknown activation {activation!r}; use relu, relu6 or None")
    if redirect:
        return RedirectedReLU.apply(x, UPPER[activation])
    return x.clamp(0, UPPER[activation])
