"""Attribution of a neuron's pre-activation on an example to the units of an earlier layer.

For a target value T (one unit at one position, before its ReLU) and a source layer with
(post-activation) value h, the attribution is h * dT/dh, computed with the path between the two
layers linearised (`ns.linearized()`: ReLUs become identities, max-pools average-pools). On a
linear path T = W.h + b, so the attribution is exactly the weight times the activation, with the
weights expanded through any bottleneck convolutions in between, and

    attribution.sum() + baseline == T,    baseline = T with the source zeroed (bias and bypasses).

    a = attribute(model, "mixed3b:379", images, positions=(14, 14))   # source: mixed3a
    a.by_unit[0].topk(5), a.by_position[0]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.models.ops import ACTIVATIONS, linearized
from neuronscope.neurons import Neuron, parse_neuron


@dataclass(frozen=True)
class Attribution:
    """Attributions of one target unit on N examples. Tensors are on the model's device."""

    layer: str
    unit: int
    source: str
    positions: list[tuple[int, int]] | None  # the target's (y, x) per example; None for a vector layer
    values: torch.Tensor  # (N, C, H, W) (or (N, C) for a vector source): h * dT/dh
    actual: torch.Tensor  # (N,) T in the unmodified network
    linear: torch.Tensor  # (N,) T with the path linearised: baseline + values summed
    baseline: torch.Tensor  # (N,) T linearised with the source zeroed

    @property
    def by_unit(self) -> torch.Tensor:
        """(N, C): attribution summed over the source's positions."""
        return self.values.flatten(2).sum(2) if self.values.dim() > 2 else self.values

    @property
    def by_position(self) -> torch.Tensor:
        """(N, H, W): attribution summed over the source's units."""
        if self.values.dim() != 4:
            raise NeuronscopeError(f"{self.source} has no spatial positions")
        return self.values.sum(1)

    def top_units(self, example: int, k: int = 5) -> list[tuple[int, float]]:
        """The k source units with the largest attribution on one example, largest first."""
        values, units = self.by_unit[example].topk(min(k, self.by_unit.shape[1]))
        return list(zip(units.tolist(), values.tolist()))


def previous_layer(model, layer: str, input_size: int | tuple[int, int] = 224) -> str:
    """The nearest earlier layer that every path from the input to `layer` passes through, e.g.
    mixed3a for InceptionV1's mixed3b (not its branches) and block5 for EfficientNet's block6_expand."""
    model.check_layers([layer])
    h, w = (input_size, input_size) if isinstance(input_size, int) else input_size
    x = torch.zeros(1, 3, h, w, device=model.device, requires_grad=True)
    for candidate in reversed(model.layers[: model.layers.index(layer)]):
        with torch.enable_grad():
            out = model.capture(x, [layer], pre_relu=True, interventions={candidate: torch.zeros_like})[layer]
        if not _depends_on(out, x):
            return candidate
    raise NeuronscopeError(f"no earlier layer of {model.name} separates {layer} from the input")


def _depends_on(out: torch.Tensor, leaf: torch.Tensor) -> bool:
    """Whether `leaf` is in `out`'s autograd graph (a walk of the graph, no backward pass)."""
    seen, stack = set(), [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if getattr(node, "variable", None) is leaf:
            return True
        stack.extend(fn for fn, _ in node.next_functions)
    return False


def attribute(model, neuron, images: torch.Tensor, positions=None, source: str | None = None) -> Attribution:
    """Attribute `neuron` ("layer:unit[@y,x]" or a `Neuron`) on each of `images` ((N, 3, H, W) in
    [0, 1]) to the units of `source` (default: `previous_layer`). `positions`: one (y, x) for every
    image or one per image (default: the neuron's own position, else the central one)."""
    if not isinstance(neuron, Neuron):
        neuron = parse_neuron(str(neuron))
        if neuron.layer not in model.activations:  # a short name like 3b:379, or an error
            neuron = parse_neuron(str(neuron), model, images.shape[-1])
    layer, unit = neuron.layer, neuron.unit
    model.check_layers([layer])
    images = images.to(model.device)
    source = source or previous_layer(model, layer, tuple(images.shape[-2:]))
    model.check_layers([source])
    if model.layers.index(source) >= model.layers.index(layer):
        raise NeuronscopeError(f"source {source} does not come before {layer} in {model.name}")

    with torch.no_grad():
        acts = model.capture(images, [source, layer], pre_relu=True)
    if not 0 <= unit < acts[layer].shape[1]:
        raise NeuronscopeError(f"{layer} has {acts[layer].shape[1]} units; got unit {unit}")
    h = ACTIVATIONS[model.activations[source]](acts[source])
    positions = _positions(layer, acts[layer], positions if positions is not None else neuron.position)
    leaf = h.detach().clone().requires_grad_(True)
    with linearized(), torch.enable_grad():
        out = model.capture(images, [layer], pre_relu=True, interventions={source: lambda _: leaf})[layer]
        linear = _select(out, unit, positions)
        (grad,) = torch.autograd.grad(linear.sum(), leaf)
    with linearized(), torch.no_grad():
        zeroed = model.capture(images, [layer], pre_relu=True, interventions={source: torch.zeros_like})[layer]
    return Attribution(layer, unit, source, positions, h * grad, _select(acts[layer], unit, positions),
                       linear.detach(), _select(zeroed, unit, positions))


def _positions(layer: str, out: torch.Tensor, positions) -> list[tuple[int, int]] | None:
    """One (y, x) per example, checked against the layer's grid."""
    if out.dim() == 2:
        if positions is not None:
            raise NeuronscopeError(f"{layer} has no spatial positions")
        return None
    n, (gh, gw) = out.shape[0], out.shape[-2:]
    if positions is None:
        positions = [((gh - 1) // 2, (gw - 1) // 2)]
    elif len(positions) == 2 and all(isinstance(v, int) for v in positions):
        positions = [tuple(positions)]
    positions = [(int(y), int(x)) for y, x in positions]
    if len(positions) == 1:
        positions = positions * n
    if len(positions) != n:
        raise NeuronscopeError(f"got {len(positions)} positions for {n} images")
    outside = [p for p in positions if not (0 <= p[0] < gh and 0 <= p[1] < gw)]
    if outside:
        raise NeuronscopeError(f"position {outside[0]} is outside {layer}'s {gh}x{gw} grid")
    return positions


def _select(out: torch.Tensor, unit: int, positions) -> torch.Tensor:
    """(N,) the unit's value at each example's position."""
    if positions is None:
        return out[:, unit]
    index = torch.arange(out.shape[0], device=out.device)
    ys = torch.tensor([p[0] for p in positions], device=out.device)
    xs = torch.tensor([p[1] for p in positions], device=out.device)
    return out[index, unit, ys, xs]
