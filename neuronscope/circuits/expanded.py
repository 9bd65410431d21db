"""Expanded weights: the effective spatial kernel from each unit of one layer to each unit of a later one.

Between two layers a network is, apart from its nonlinearities, a chain of linear maps
(convolutions, batch-norm in eval mode, pooling, branches that are added or concatenated).
Replacing every ReLU by the identity and every max-pool by an average-pool ("linear
approximation", `ns.linearized()`) makes the whole path linear, and its kernel can be read as the
gradient of one target position with respect to the source layer. Other elementwise
nonlinearities (InceptionV1's local response normalisation) are linearised where they stand for
a black input and an all-zero source. Global mixing (squeeze-excite gates, attention) is held
at its value there (`linearized(local=True)`): the kernel is the local path. A result that is
identically zero is refused, never returned as a kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from neuronscope.errors import NeuronscopeError
from neuronscope.models import Model, linearized


@dataclass(frozen=True)
class Span:
    """How a target layer's positions see a source layer's positions at one input size.

    Target position (y, x) sees source rows `offset[0] + y * stride[0]` to that plus `size[0] - 1`
    (columns likewise); `offset` is negative where the view reaches into the padding.
    """

    size: tuple[int, int]
    stride: tuple[int, int]
    offset: tuple[int, int]

    def start(self, y: int, x: int) -> tuple[int, int]:
        return self.offset[0] + y * self.stride[0], self.offset[1] + x * self.stride[1]


def check_pair(model: Model, source: str, target: str) -> None:
    model.check_layers([source, target])
    if model.layers.index(source) >= model.layers.index(target):
        raise NeuronscopeError(f"{target!r} does not come after {source!r} in {model.name}")


def span(model: Model, source: str, target: str, input_size: int | tuple[int, int] = 224) -> Span:
    """The window of `source` positions that each `target` position sees (from receptive fields)."""
    check_pair(model, source, target)
    rs, rt = model.receptive_field(source, input_size), model.receptive_field(target, input_size)
    size, stride, offset = [], [], []
    for a in range(2):
        extra, start = rt.size[a] - rs.size[a], rt.start[a] - rs.start[a]
        if extra < 0 or extra % rs.stride[a] or rt.stride[a] % rs.stride[a] or start % rs.stride[a]:
            raise NeuronscopeError(f"{target!r} does not see whole {source!r} positions "
                                   f"(receptive fields {rt.size}/{rt.stride} vs {rs.size}/{rs.stride})")
        size.append(extra // rs.stride[a] + 1)
        stride.append(rt.stride[a] // rs.stride[a])
        offset.append(start // rs.stride[a])
    return Span(tuple(size), tuple(stride), tuple(offset))


def apply_kernels(source: torch.Tensor, kernels: torch.Tensor, window: Span, grid: tuple[int, int]) -> torch.Tensor:
    """Convolve a source activation (N, S, H, W) with kernels (T, S, kh, kw) laid out like expanded
    weights, giving (N, T, *grid) on the target's grid; source positions outside the map count as 0."""
    pads, starts = [], []
    for a in range(2):
        stride, offset = window.stride[a], window.offset[a]
        before = max(0, -offset) + (-(offset + max(0, -offset))) % stride  # aligned to the stride
        first = (offset + before) // stride
        need = (first + grid[a] - 1) * stride + window.size[a]
        pads.append((before, max(0, need - source.shape[-2 + a] - before)))
        starts.append(first)
    padded = F.pad(source, (*pads[1], *pads[0]))
    out = F.conv2d(padded, kernels.to(source), stride=window.stride)
    return out[..., starts[0]:starts[0] + grid[0], starts[1]:starts[1] + grid[1]]


def clear_input_size(model: Model, layer: str) -> int:
    """The smallest square input whose central `layer` position sees no padding, so its kernel
    is not cut by any border."""
    ref = 224
    while True:
        rf = model.receptive_field(layer, ref)
        top, left, bottom, right = rf.box(*rf.central_position())
        if (top > 0 and left > 0 and bottom < ref and right < ref) or ref >= 2048:
            break
        ref *= 2
    size = max(rf.size)
    for n in range(size, size + 2 * max(rf.stride) + 2):
        field = model.receptive_field(layer, n)
        top, left, bottom, right = field.box(*field.central_position())
        if field.size == rf.size and top >= 0 and left >= 0 and bottom <= n and right <= n:
            return n
    raise NeuronscopeError(f"found no input size where {layer!r}'s central field avoids the padding")


def expanded_weights(model: Model, source: str, target: str, units: Sequence[int] | None = None,
                     batch_size: int = 16, input_size: int | None = None, pack: bool = True) -> torch.Tensor:
    """Expanded weights, (target units, source units, kh, kw), under the linear approximation.

    Entry [t, s, dy, dx] is how much target unit t (pre-activation, at a position away from any
    border) changes per unit of source unit s at the (dy, dx)-th source position of its window,
    with ReLUs replaced by the identity and max-pools by average-pools. For a single convolution
    it is that convolution's weight (times any batch-norm scale that follows); for longer paths
    it sums over every route (bottlenecks, parallel branches, pooling). The kernel spans the
    target's receptive field in source positions, `(rf_t.size - rf_s.size) / rf_s.stride + 1`.

    The source value is replaced by a leaf tensor (the source's activation function is the
    identity when linearised, so pre- and post-activation coincide) and the target is
    differentiated with respect to it. One backward pass yields the kernels of many target units:
    each of its `batch_size` batch elements back-propagates its own units, and with `pack` each
    element carries one unit at each of several target positions whose source windows do not
    overlap, all far enough from the borders that every one of them has the same kernel (the
    input is enlarged for that; true of convolutional networks, else pass `pack=False`).
    `units` picks target units (default all); `batch_size` bounds memory.
    """
    check_pair(model, source, target)
    n = input_size or clear_input_size(model, target)
    window = span(model, source, target, n)
    units = unit_list(model, target, units, n)
    if pack and input_size is None:
        n = _packed_size(model, target, window, n, len(units))
        window = span(model, source, target, n)
    slots = _slots(model, target, window, n, pack)
    per_pass = max(1, batch_size) * len(slots)
    kernels, shared = [], True
    with linearized(local=True), torch.enable_grad():
        for i in range(0, len(units), per_pass):
            chunk = units[i:i + per_pass]
            elements = -(-len(chunk) // len(slots))
            if shared:
                try:
                    leaf, out = _run(model, source, target, n, 1, elements)
                except RuntimeError:  # a branch beside the source cannot broadcast: run it B times
                    shared = False
            if not shared:
                leaf, out = _run(model, source, target, n, elements, elements)
            kernels.append(_backward(leaf, out.expand(elements, *out.shape[1:]), chunk, slots, window))
    kernels = torch.cat(kernels)
    if not kernels.any():
        raise NeuronscopeError(f"the expanded weights from {source} to {target} are identically zero under the linear "
                               "approximation (no linear path between them, or every one blocked)")
    return kernels


def _backward(leaf, out, units: list[int], slots: list[tuple[int, int]], window: Span) -> torch.Tensor:
    """Back-propagate unit j from batch element j // len(slots) at position slots[j % len(slots)];
    returns each unit's kernel, cut from its own source window."""
    index = torch.arange(len(units))
    element, slot = index // len(slots), index % len(slots)
    ys = torch.tensor([slots[k][0] for k in slot.tolist()])
    xs = torch.tensor([slots[k][1] for k in slot.tolist()])
    picked = out[element.to(out.device), torch.tensor(units, device=out.device), ys.to(out.device), xs.to(out.device)]
    (grad,) = torch.autograd.grad(picked.sum(), leaf, allow_unused=True)
    if grad is None:
        raise NeuronscopeError("the target does not depend on the source")
    (kh, kw) = window.size
    kernels = grad.new_empty(len(units), grad.shape[1], kh, kw)
    for k, (y, x) in enumerate(slots):
        rows = (slot == k).nonzero().flatten()
        if len(rows):
            y0, x0 = window.start(y, x)
            kernels[rows.to(grad.device)] = grad[element[rows].to(grad.device), :, y0:y0 + kh, x0:x0 + kw]
    return kernels.detach()


def _packed_size(model: Model, target: str, window: Span, size: int, count: int) -> int:
    """An input holding up to m x m target positions with disjoint source windows away from the
    borders; m grows while it pays (each position costs a window's worth of input area)."""
    rf = model.receptive_field(target, size)
    gap = max(rf.stride[a] * -(-window.size[a] // window.stride[a]) for a in range(2))
    per_side = min(math.ceil(math.sqrt(count)), max(1, round(2 * max(rf.size) / gap)))
    return size + gap * (per_side - 1)


def _slots(model: Model, target: str, window: Span, size: int, pack: bool) -> list[tuple[int, int]]:
    """Target positions whose fields lie inside the input (every one has the same kernel), spaced
    so their source windows do not overlap; only the central one unless `pack`."""
    rf = model.receptive_field(target, size)
    axes = []
    for a in range(2):
        clear = [i for i in range(rf.grid[a])
                 if rf.start[a] + i * rf.stride[a] >= 0 and rf.start[a] + i * rf.stride[a] + rf.size[a] <= size]
        axes.append(clear[::-(-window.size[a] // window.stride[a])] if pack else
                    [c for c in clear if c == rf.central_position()[a]])
    slots = [(y, x) for y in axes[0] for x in axes[1]]
    if not slots:
        raise NeuronscopeError(f"input size {size} is too small: every {target} position sees padding")
    return slots


def _run(model: Model, source: str, target: str, size: int, images: int, batch: int):
    """Forward `images` black inputs with the source replaced by a zero leaf of `batch` elements
    (one image serves the whole batch when nothing beside the source needs its own copy)."""
    leaf = []

    def replace(value):
        leaf.append(torch.zeros(batch, *value.shape[1:], dtype=value.dtype, device=value.device, requires_grad=True))
        return leaf[0]

    x = torch.zeros(images, 3, size, size, device=model.device)
    out = model.capture(x, [target], pre_relu=True, interventions={source: replace})[target]
    return leaf[0], out


def unit_list(model: Model, layer: str, units: Sequence[int] | None, input_size: int = 64) -> list[int]:
    """`units` as checked ints; None means every unit of `layer`."""
    with torch.no_grad():
        count = model.capture(torch.zeros(1, 3, input_size, input_size, device=model.device), [layer])[layer].shape[1]
    units = list(range(count)) if units is None else [int(u) for u in units]
    bad = [u for u in units if not 0 <= u < count]
    if bad:
        raise NeuronscopeError(f"{layer} has {count} units (0-{count - 1}); got unit {bad[0]}")
    return units
