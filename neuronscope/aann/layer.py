"""A layer of hand-built curve detectors: a convolution from a source layer's activations,
with weights drawn from the curve motif and the source layer's families only (never the
target layer's own weights)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from neuronscope.aann.motif import Motif, motif_kernels
from neuronscope.circuits import Span, apply_kernels, span
from neuronscope.errors import NeuronscopeError
from neuronscope.families.family import Family
from neuronscope.models import ops


@dataclass(frozen=True)
class SourceUnit:
    """A unit of the source layer with its preferred orientation; `kind` "line" means the
    orientation is only defined modulo 180 (edge and line detectors), "curve" modulo 360."""

    unit: int
    orientation_deg: float
    kind: str = "curve"


def source_units(family, kind: str) -> list[SourceUnit]:
    """The units of a family with orientations (a `find_family` result, (unit, orientation)
    pairs, ...: anything `Family.of` reads) as `SourceUnit`s of `kind`."""
    family = Family.of(family, kind)
    return [SourceUnit(u, t, kind) for u, t in zip(family.units, family.require_orientations())]


def source_layer(model, target: str) -> str:
    """The layer whose families feed artificial units in `target`: the model's `default_source`
    when `target` is its curve layer."""
    if target == model.default_layer and model.default_source:
        return model.default_source
    raise NeuronscopeError(f"no default source layer for {model.name} {target}; name one (--from)")


class ArtificialCurves(nn.Conv2d):
    """Artificial curve detectors, one output channel per orientation, read from the source
    layer's (post-activation) values; the output is on the target layer's grid.

    An `nn.Conv2d` whose weight (orientations, source channels, kh, kw) is laid out like
    expanded weights over `window` (a `neuronscope.circuits.Span`: output position (y, x) sees
    source positions `offset + (y, x) * stride` onward, the same window as the target layer's
    units), zero for source units outside the families. Given a `Geometry` instead of a tensor
    it returns the receptive field of its output, so `ns.Model` geometry works through it.
    """

    def __init__(self, weight: torch.Tensor, window, orientations: Sequence[float], sources: Sequence[SourceUnit],
                 motif: Motif, source: str, target: str):
        k, c, kh, kw = weight.shape
        super().__init__(c, k, (kh, kw), stride=tuple(window.stride), bias=True)
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(k), requires_grad=False)
        self.window = window
        self.orientations = [float(t) for t in orientations]
        self.sources = list(sources)
        self.motif = motif
        self.source, self.target = source, target

    def forward(self, x):
        if isinstance(x, ops.Geometry):
            return ops.Geometry(self._axis(x.h, 0), self._axis(x.w, 1))
        grid = tuple(math.ceil(n / s) for n, s in zip(x.shape[-2:], self.stride))
        return apply_kernels(x, self.weight, self.window, grid) + self.bias.view(1, -1, 1, 1).to(x)

    def _axis(self, a: ops.Axis, axis: int) -> ops.Axis:
        s = self.stride[axis]
        return ops.Axis(math.ceil(a.n / s), a.stride * s, a.start + self.window.offset[axis] * a.stride,
                        a.size + (self.kernel_size[axis] - 1) * a.stride)


def build_layer(model, source: str, target: str, orientations: Iterable[float], *, lines=None, curves=None,
                motif: Motif = Motif(), input_size: int = 224) -> ArtificialCurves:
    """Artificial curve detectors of `orientations` (degrees) on `target`'s grid, fed by the
    `lines` and `curves` families of `source` (members or (unit, orientation) pairs).

    With neither family given, both are found with `neuronscope.families.find_family`. The
    weights come from `motif_kernels` only; the geometry (kernel size, stride, offset) is the
    window of source positions each target position sees (`neuronscope.circuits.span`), or
    its central `motif.kernel_size` part. A unit listed in both families counts as a curve.
    """
    orientations = [float(t) for t in orientations]
    if not orientations:
        raise NeuronscopeError("no orientations given for the artificial curve detectors")
    if lines is None and curves is None:
        from neuronscope.families import find_family

        curves, lines = find_family(model, source, kind="curve"), find_family(model, source, kind="line")
    units: dict[int, SourceUnit] = {}
    for family, kind in ((curves, "curve"), (lines, "line")):
        if family is not None and len(Family.of(family)):
            for s in source_units(family, kind):
                units.setdefault(s.unit, s)
    if not units:
        raise NeuronscopeError(f"no source family units in {source!r} to build curve detectors from")
    channels = model.layer_shapes(input_size, [source])[source][0]
    bad = [u for u in units if not 0 <= u < channels]
    if bad:
        raise NeuronscopeError(f"{source} has {channels} units (0-{channels - 1}); got unit {bad[0]}")
    window = _kernel_window(span(model, source, target, input_size), motif.kernel_size)
    size = window.size
    sources = list(units.values())
    weight = torch.zeros(len(orientations), channels, *size)
    weight[:, [s.unit for s in sources]] = motif_kernels(
        orientations, [s.orientation_deg for s in sources], [s.kind for s in sources], size, motif)
    return ArtificialCurves(weight, window, orientations, sources, motif, source, target).to(model.device)


def _kernel_window(window: Span, k: int | None) -> Span:
    """The target's window, or its centred k x k part (the margins must be even)."""
    if k is None:
        return window
    margins = [n - k for n in window.size]
    if any(m % 2 for m in margins):
        raise NeuronscopeError(f"kernel size {k} cannot be centred in the {window.size[0]}x{window.size[1]} "
                               f"window; use a size of the same parity")
    return Span((k, k), window.stride, tuple(o + m // 2 for o, m in zip(window.offset, margins)))

