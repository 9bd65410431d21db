"""Circuit editing on a copy: scale or zero weights, ablate units, replace units by a function.

    with edit(model, weights=[WeightEdit("mixed3a", "mixed3b", early, late, sign="negative")]) as edited:
        edited.capture(images, ["mixed3b"])      # `model` itself is never modified, not even meanwhile

Weights are edited where they live when one convolution carries the source to the target (its
weight, checked against the expanded weights, is scaled in the copy); otherwise "through the
expanded path": the change of the expanded kernels, convolved with the source's activation, is
added to the target. That is exact for a linear path (as from a post-activation source through
1x1 convolutions, batch-norms and residual sums) and the linear approximation otherwise.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from neuronscope.circuits.expanded import apply_kernels, check_pair, expanded_weights, span, unit_list
from neuronscope.errors import NeuronscopeError
from neuronscope.models import Model
from neuronscope.models.ops import ACTIVATIONS

SIGNS = {None: lambda k: torch.ones_like(k, dtype=torch.bool), "negative": lambda k: k < 0, "positive": lambda k: k > 0}
PATHS = ("auto", "direct", "expanded")


@dataclass(frozen=True)
class WeightEdit:
    """Multiply the weights from `source_units` of `source` to `target_units` of `target` by `scale`.

    `sign` keeps only negative or positive weights (by their effective sign, batch-norm scale
    included); `path` is "direct" (the one convolution carrying them), "expanded", or "auto"
    (direct when possible). Units default to the whole layer.
    """

    source: str
    target: str
    source_units: Sequence[int] | None = None
    target_units: Sequence[int] | None = None
    sign: str | None = None
    scale: float = 0.0
    path: str = "auto"


@dataclass(frozen=True)
class Ablation:
    """Set `units` of `layer` (its pre-activation) to `value`: 0, a number, or one number per
    unit (e.g. their dataset means, `stats.mean[units]`)."""

    layer: str
    units: Sequence[int]
    value: float | Sequence[float] = 0.0


@dataclass(frozen=True)
class Replacement:
    """Replace `units` of `layer` (pre-activation) by a function of `source`'s activation.

    Either `fn(source_value) -> (N, len(units), H, W)` on the target's grid, or `kernels`
    (len(units), source units, kh, kw) laid out like expanded weights plus an optional `bias`
    per unit: an artificial neuron. The source value is post-activation (what the next layer sees).
    """

    layer: str
    units: Sequence[int]
    source: str
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    kernels: torch.Tensor | None = None
    bias: Sequence[float] | torch.Tensor | None = None


class EditedModel(Model):
    """A deep copy of a model whose forward passes apply edits; `log` says what each edit did."""

    def __init__(self, base: Model):
        if isinstance(base, EditedModel):
            raise NeuronscopeError("edits do not nest: give all edits to one edit(model, ...) of the original")
        self._inner = copy.deepcopy(base)
        super().__init__(self._inner.net, self._inner.activations, self._inner.preprocess, self._inner.labels)
        self.name, self.default_layer = f"{base.name} (edited)", base.default_layer
        self.default_source, self.layer_prefix = base.default_source, base.layer_prefix
        self.log: list[str] = []
        self._edits: dict[str, list[Callable]] = {}
        self._sources: dict[str, torch.Tensor] = {}
        self._input_size: tuple[int, int] | None = None
        self._pairs: set[tuple[str, str]] = set()
        self._spans: dict = {}

    def run(self, images, recorder):
        if isinstance(images, torch.Tensor):
            self._input_size = tuple(images.shape[-2:])
            for source, target in self._pairs:  # geometry is measured outside the forward pass
                if (source, target, self._input_size) not in self._spans:
                    window = span(self, source, target, self._input_size)
                    grid = self.receptive_field(target, self._input_size).grid
                    self._spans[source, target, self._input_size] = window, grid
        own = dict(recorder.interventions)  # the caller's come first, so edits apply to what they set
        recorder.interventions = {layer: _chain([*([own[layer]] if layer in own else []), *self._edits.get(layer, [])])
                                  for layer in {*self._edits, *own}}
        return super().run(images, recorder)

    def _forward(self, x, recorder):
        self._inner._forward(x, recorder)

    def _geometry(self, layer, h, w):
        return self._inner._geometry(layer, h, w)

    # -- edits ----------------------------------------------------------------------
    def add(self, layer: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.check_layers([layer])
        self._edits.setdefault(layer, []).append(fn)

    def record_source(self, layer: str) -> Callable[[], torch.Tensor]:
        """Keep `layer`'s post-activation value of each forward pass; returns its reader."""
        if layer not in self._sources:
            act = ACTIVATIONS[self.activations[layer]]

            def keep(value):
                self._sources[layer] = act(value)
                return value

            self._sources[layer] = None
            self.add(layer, keep)
        return lambda: self._sources[layer]

    def aligned(self, source: str, target: str, kernels: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """fn(source value) -> `kernels` applied on the target's grid at the current input size."""
        self._pairs.add((source, target))

        def apply(value):
            window, grid = self._spans[source, target, self._input_size]
            return apply_kernels(value, kernels, window, grid)

        return apply


def _chain(fns):
    def run(value):
        for fn in fns:
            value = fn(value)
        return value

    return run


@contextlib.contextmanager
def edit(model: Model, weights: Sequence[WeightEdit] = (), ablate: Sequence[Ablation] = (),
         replace: Sequence[Replacement] = ()):
    """Context manager yielding an `EditedModel`: a copy of `model` with the edits applied.

    `model` itself (weights, outputs) is unchanged during and after the block.
    """
    edited = EditedModel(model)
    for change in weights:
        _edit_weights(edited, change)
    for change in ablate:
        _ablate(edited, change)
    for change in replace:
        _replace(edited, change)
    yield edited


def _ablate(edited: EditedModel, change: Ablation) -> None:
    units = unit_list(edited, change.layer, change.units)
    value = torch.as_tensor(change.value, dtype=torch.float32).flatten()
    if value.numel() not in (1, len(units)):
        raise NeuronscopeError(f"ablation of {len(units)} units got {value.numel()} values")
    value = value.expand(len(units))

    def ablate(v):
        v = v.clone()
        v[:, units] = value.to(v)[None, :, None, None]
        return v

    edited.add(change.layer, ablate)
    edited.log.append(f"ablated {len(units)} units of {change.layer}")


def _replace(edited: EditedModel, change: Replacement) -> None:
    check_pair(edited, change.source, change.layer)
    units = unit_list(edited, change.layer, change.units)
    if (change.fn is None) == (change.kernels is None):
        raise NeuronscopeError("a replacement needs either fn or kernels")
    fn = change.fn
    if fn is None:
        kernels = torch.as_tensor(change.kernels)
        if kernels.dim() != 4 or kernels.shape[0] != len(units):
            raise NeuronscopeError(f"replacement kernels must be ({len(units)}, S, kh, kw), got {tuple(kernels.shape)}")
        bias = torch.zeros(len(units)) if change.bias is None else torch.as_tensor(change.bias, dtype=torch.float32)
        conv = edited.aligned(change.source, change.layer, kernels)
        fn = lambda s: conv(s) + bias.to(s)[None, :, None, None]  # noqa: E731
    read = edited.record_source(change.source)

    def put(v):
        v = v.clone()
        v[:, units] = fn(read()).to(v)
        return v

    edited.add(change.layer, put)
    edited.log.append(f"replaced {len(units)} units of {change.layer} by a function of {change.source}")


def _edit_weights(edited: EditedModel, change: WeightEdit) -> None:
    if change.sign not in SIGNS:
        raise NeuronscopeError(f"sign must be 'negative', 'positive' or None, got {change.sign!r}")
    if change.path not in PATHS:
        raise NeuronscopeError(f"path must be one of {', '.join(PATHS)}, got {change.path!r}")
    sources = unit_list(edited, change.source, change.source_units)
    targets = unit_list(edited, change.target, change.target_units)
    kernels = expanded_weights(edited, change.source, change.target, targets)
    chosen = torch.zeros_like(kernels, dtype=torch.bool)
    chosen[:, sources] = True
    chosen &= SIGNS[change.sign](kernels) & (kernels != 0)  # no weight between groups of a grouped conv
    conv = find_direct_conv(edited, kernels, targets) if change.path != "expanded" else None
    if conv is None and change.path == "direct":
        raise NeuronscopeError(f"no single convolution carries {change.source} to {change.target}; "
                               f"use path='expanded'")
    what = f"{int(chosen.sum())} {change.sign or ''} weights {change.source} -> {change.target}".replace("  ", " ")
    if conv is not None:
        name, module, rows = conv
        with torch.no_grad():
            dense = _dense(module)
            mask = torch.zeros_like(dense, dtype=torch.bool)
            mask[rows] = chosen.to(mask.device)
            dense[mask] *= change.scale
            module.weight.copy_(_grouped(dense, module))
        edited.log.append(f"scaled {what} by {change.scale:g} in convolution {name}")
        return
    delta = torch.where(chosen, kernels * (change.scale - 1.0), torch.zeros_like(kernels))[:, sources]
    read = edited.record_source(change.source)
    conv = edited.aligned(change.source, change.target, delta)

    def correct(v):
        v = v.clone()
        v[:, targets] += conv(read()[:, sources]).to(v)
        return v

    edited.add(change.target, correct)
    edited.log.append(f"scaled {what} by {change.scale:g} through the expanded path")


def find_direct_conv(model: Model, kernels: torch.Tensor, targets: list[int], tol: float = 1e-4):
    """The convolution whose weight, scaled per output channel, equals these expanded kernels:
    (module name, module, its output channels for `targets`), or None."""
    k = kernels.flatten(1)
    for name, module in model.net.named_modules():
        if not isinstance(module, nn.Conv2d) or module.in_channels != kernels.shape[1]:
            continue
        if tuple(module.kernel_size) != tuple(kernels.shape[-2:]):
            continue
        w = _dense(module).to(kernels).flatten(1)
        for row in _proportional(w, k[:1], tol).tolist():  # rows that could hold the first target
            rows = [t - targets[0] + row for t in targets]
            if min(rows) >= 0 and max(rows) < module.out_channels and _proportional(w[rows], k, tol, paired=True):
                return name, module, rows
    return None


def _proportional(w: torch.Tensor, k: torch.Tensor, tol: float, paired: bool = False):
    """Rows of `w` equal to a nonzero multiple of k[0] (indices), or, paired, whether every
    w[i] is a nonzero multiple of k[i]."""
    if paired:
        scale = (w * k).sum(1) / (w * w).sum(1).clamp_min(1e-30)
        return bool(torch.all(((k - scale[:, None] * w).norm(dim=1) <= tol * k.norm(dim=1)) & (scale != 0)))
    scale = (w @ k[0]) / (w * w).sum(1).clamp_min(1e-30)
    close = (k[0][None] - scale[:, None] * w).norm(dim=1) <= tol * k[0].norm()
    return torch.nonzero(close & (scale != 0)).flatten()


def _group_columns(module: nn.Conv2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of each grouped weight entry in the dense (out, in) matrix."""
    out_g, in_g = module.out_channels // module.groups, module.in_channels // module.groups
    rows = torch.arange(module.out_channels)[:, None]
    return rows, (rows // out_g) * in_g + torch.arange(in_g)[None]


def _dense(module: nn.Conv2d) -> torch.Tensor:
    """The weight as (out, in, kh, kw), zero between groups."""
    w = module.weight.detach()
    dense = w.new_zeros(module.out_channels, module.in_channels, *w.shape[-2:])
    dense[_group_columns(module)] = w
    return dense


def _grouped(dense: torch.Tensor, module: nn.Conv2d) -> torch.Tensor:
    return dense[_group_columns(module)]
