"""Operations shared by the built-in networks, written once for two kinds of value.

Every op takes either a tensor (the real computation) or a `Geometry` (receptive-field
bookkeeping), so running a network's own `forward` on a `Geometry` yields the exact receptive
field of every layer from the architecture itself. Padding is TensorFlow's "SAME", computed
from the input size, as in the graphs these models were trained in.

`linearized()` swaps every ReLU for the identity and every max-pool for an average-pool over
the same (unpadded) window: the "linear approximation" used to read weights between layers.
Wrapped models (any `nn.Module`) get the same through `LinearMode`, a torch function mode that
reaches functional calls (`F.relu(x, inplace=True)`) as well as modules.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

_LINEAR = contextvars.ContextVar("neuronscope_linear", default=None)


@contextlib.contextmanager
def linearized(local: bool = False):
    """Within this block, ReLU-like activations (ReLU, ReLU6, leaky ReLU, ELU, GELU, SiLU, Mish,
    Hardswish) are the identity, hard-sigmoid is its linear part and max-pools are average-pools.

    `local=True` also cuts global mixing (in wrapped models): a global pooling (as in
    squeeze-excite gates) is held at its value with no gradient, and attention is replaced by
    each token keeping its own value, so gradients show a position's local path alone.
    """
    token = _LINEAR.set("local" if local else "linear")
    try:
        yield
    finally:
        _LINEAR.reset(token)


def is_linearized() -> bool:
    return _LINEAR.get() is not None


def is_local() -> bool:
    return _LINEAR.get() == "local"


def same_padding(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) for length n, kernel k, stride s."""
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Axis:
    """One spatial axis of a layer: `n` positions, `stride` input pixels apart, each seeing
    `size` input pixels starting at `start + i * stride` (start may be negative: padding)."""

    n: int
    stride: int = 1
    start: int = 0
    size: int = 1

    def window(self, k: int, s: int) -> Axis:
        before, _ = same_padding(self.n, k, s)
        return Axis(math.ceil(self.n / s), self.stride * s, self.start - before * self.stride,
                    self.size + (k - 1) * self.stride)

    def union(self, other: Axis) -> Axis:
        if (self.n, self.stride) != (other.n, other.stride):
            raise ValueError("cannot merge feature maps of different grids")
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return Axis(self.n, self.stride, start, end - start)

    def pooled(self) -> Axis:
        return Axis(1, self.stride * self.n, self.start, self.size + (self.n - 1) * self.stride)


@dataclass(frozen=True)
class Geometry:
    """Receptive-field bookkeeping that flows through a network in place of a tensor.
    `global_dependence`: see `ReceptiveField` (set by measured fields)."""

    h: Axis
    w: Axis
    global_dependence: bool = False

    @classmethod
    def of_input(cls, height: int, width: int) -> Geometry:
        return cls(Axis(height), Axis(width))

    def window(self, k: tuple[int, int], s: tuple[int, int]) -> Geometry:
        return Geometry(self.h.window(k[0], s[0]), self.w.window(k[1], s[1]))

    def union(self, other: Geometry) -> Geometry:
        return Geometry(self.h.union(other.h), self.w.union(other.w))


def _pairs(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def conv(x, module: nn.Conv2d, bn: nn.BatchNorm2d | None = None):
    """`module` (built with padding=0) applied with SAME padding, then `bn` if given.

    Symmetric SAME padding (every stride-1 conv) is left to the convolution itself, and an
    eval-mode `bn` is folded into the convolution's weights: a padded copy of the input and
    a separate batch-norm pass cost more than the convolution on CPU. Both agree with padding
    first and normalising after to float rounding (tests/test_ops_fused.py)."""
    k, s = _pairs(module.kernel_size), _pairs(module.stride)
    if isinstance(x, Geometry):
        return x.window(k, s)
    (t, b), (l, r) = same_padding(x.shape[-2], k[0], s[0]), same_padding(x.shape[-1], k[1], s[1])
    plain = type(module) is nn.Conv2d and module.padding == (0, 0) and module.padding_mode == "zeros"
    foldable = bn is not None and type(bn) is nn.BatchNorm2d and not bn.training and bn.track_running_stats
    if plain and (foldable or bn is None):
        weight, bias = (module.weight, module.bias) if bn is None else _folded(module, bn)
        if (t, l) != (b, r):
            x, t, l = F.pad(x, (l, r, t, b)), 0, 0
        return F.conv2d(x, weight, bias, module.stride, (t, l), module.dilation, module.groups)
    if t or b or l or r:
        x = F.pad(x, (l, r, t, b))
    x = module(x)
    return x if bn is None else bn(x)


def _folded(module: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of `bn(module(x))` as one convolution (eval-mode batch-norm)."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.weight is not None:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.bias is not None:
        shift = shift + bn.bias
    if module.bias is not None:
        shift = shift + module.bias * scale
    return module.weight * scale.view(-1, 1, 1, 1), shift


def max_pool(x, k: int, s: int):
    """Max-pool with SAME padding filled with -inf (average-pool of valid pixels when linearized)."""
    if isinstance(x, Geometry):
        return x.window((k, k), (s, s))
    (t, b), (l, r) = same_padding(x.shape[-2], k, s), same_padding(x.shape[-1], k, s)
    if is_linearized():
        ones = torch.ones_like(x[:1, :1])
        total = F.avg_pool2d(F.pad(x, (l, r, t, b)), k, s, divisor_override=1)
        count = F.avg_pool2d(F.pad(ones, (l, r, t, b)), k, s, divisor_override=1)
        return total / count
    return F.max_pool2d(F.pad(x, (l, r, t, b), value=float("-inf")), k, s)


def relu(x):
    if isinstance(x, Geometry) or is_linearized():
        return x
    return F.relu(x)


def relu6(x, inplace: bool = False):
    if isinstance(x, Geometry) or is_linearized():
        return x
    return F.relu6(x, inplace=inplace)


def _unless_linear(fn):
    return lambda x: x if isinstance(x, Geometry) or is_linearized() else fn(x)


# Activation that follows a layer, by name (`wrap(..., layers={name: activation})`).
ACTIVATIONS = {"relu": relu, "relu6": relu6, None: lambda x: x,
               "gelu": _unless_linear(F.gelu), "silu": _unless_linear(F.silu), "swish": _unless_linear(F.silu),
               "hardswish": _unless_linear(F.hardswish), "leaky_relu": _unless_linear(F.leaky_relu),
               "elu": _unless_linear(F.elu), "mish": _unless_linear(F.mish),
               "hardsigmoid": lambda x: x if isinstance(x, Geometry) else
               (x / 6 + 0.5 if is_linearized() else F.hardsigmoid(x)),
               "sigmoid": lambda x: x if isinstance(x, Geometry) else torch.sigmoid(x),
               "tanh": lambda x: x if isinstance(x, Geometry) else torch.tanh(x)}


def pointwise(fn, x):
    """Apply an elementwise op (batch-norm, LRN, ...), which leaves geometry unchanged."""
    return x if isinstance(x, Geometry) else fn(x)


def cat(parts):
    if isinstance(parts[0], Geometry):
        out = parts[0]
        for p in parts[1:]:
            out = out.union(p)
        return out
    return torch.cat(parts, dim=1)


def add(a, b):
    return a.union(b) if isinstance(a, Geometry) else a + b


def global_avg_pool(x):
    if isinstance(x, Geometry):
        return Geometry(x.h.pooled(), x.w.pooled())
    return x.mean(dim=(2, 3))


def linear(x, module: nn.Linear):
    return x if isinstance(x, Geometry) else module(x)
