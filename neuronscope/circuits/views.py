"""What the expanded weights say about neurons and families (data; `figures` draws them).

All weights here are expanded weights: the linear approximation of the path between two layers
(ReLUs as identity, max-pools as average-pools), see `expanded_weights`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from neuronscope.circuits.expanded import expanded_weights
from neuronscope.errors import NeuronscopeError
from neuronscope.families.family import Family
from neuronscope.models import Model
from neuronscope.neurons import Neuron, parse_neuron

MEASURES = {
    "positive": ("total positive weight", lambda k: k.clamp_min(0).sum()),
    "negative": ("total negative weight", lambda k: k.clamp_max(0).sum()),
    "abs": ("mean absolute weight per unit", lambda k: k.abs().flatten(1).sum(1).mean()),
}


@dataclass
class NeuronInputs:
    """Expanded weights into one target neuron from every unit of a source layer."""

    model: str
    source: str
    neuron: Neuron
    kernels: torch.Tensor  # (source units, kh, kw)

    @property
    def strength(self) -> torch.Tensor:
        """Sum of |weights| of each source unit's kernel: the grid's order."""
        return self.kernels.abs().flatten(1).sum(1)

    def order(self) -> list[int]:
        """Source units, strongest first."""
        return torch.argsort(self.strength, descending=True).tolist()

    def strongest(self, k: int = 8, sign: str = "positive") -> list[tuple[int, float]]:
        """(unit, summed positive or negative weight) of the k units with the largest such sum."""
        part = self.kernels.clamp_min(0) if sign == "positive" else -self.kernels.clamp_max(0)
        total = part.flatten(1).sum(1)
        top = torch.argsort(total, descending=True)[:k].tolist()
        return [(u, float(total[u]) * (1 if sign == "positive" else -1)) for u in top]


def neuron_inputs(model: Model, neuron: Neuron | str, source: str) -> NeuronInputs:
    """Kernels from every `source` unit into `neuron` (e.g. "mixed3b:379")."""
    neuron = parse_neuron(neuron, model) if isinstance(neuron, str) else neuron
    kernels = expanded_weights(model, source, neuron.layer, [neuron.unit])[0]
    return NeuronInputs(model.name, source, neuron, kernels)


@dataclass
class FamilyMatrix:
    """Kernels from every unit of a source family to every unit of a target family, both
    ordered by preferred orientation."""

    source_layer: str
    target_layer: str
    source: Family
    target: Family
    kernels: torch.Tensor  # (target units, source units, kh, kw)

    @property
    def summed(self) -> torch.Tensor:
        """(target units, source units): each kernel reduced to its summed weight."""
        return self.kernels.sum(dim=(-2, -1))


def family_matrix(model: Model, source_layer: str, source: Family, target_layer: str,
                  target: Family, kernels: torch.Tensor | None = None) -> FamilyMatrix:
    """The family-to-family matrix. `kernels` may pass precomputed expanded weights for every
    target unit of the layer (all source units) to save the backward passes."""
    source, target = source.require().ordered(), target.require().ordered()
    if kernels is None:
        kernels = expanded_weights(model, source_layer, target_layer, target.units)
    else:
        kernels = kernels[list(target.units)]
    return FamilyMatrix(source_layer, target_layer, source, target, kernels[:, list(source.units)])


@dataclass
class Contributions:
    """How much each source family contributes to one neuron, by a stated measure."""

    neuron: Neuron
    source: str
    measure: str
    names: list[str]   # families, strongest first, then "other"
    values: list[float]

    @property
    def label(self) -> str:
        return MEASURES[self.measure][0]


def family_contributions(model: Model, neuron: Neuron | str, source: str, families: dict[str, Family],
                         measure: str = "positive", inputs: NeuronInputs | None = None) -> Contributions:
    """Which `source` families feed `neuron` most ("semantic dictionary"): each family's total
    positive weight, total negative weight, or mean absolute weight per unit; every unit in no
    family is pooled as "other"."""
    if measure not in MEASURES:
        raise NeuronscopeError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    inputs = inputs or neuron_inputs(model, neuron, source)
    kernels, fn = inputs.kernels, MEASURES[measure][1]
    taken = set()
    scores = {}
    for name, group in families.items():
        _check_units(group, kernels.shape[0], source)
        taken.update(group.units)
        scores[name] = float(fn(kernels[list(group.units)]))
    names = sorted(scores, key=lambda n: -abs(scores[n]))
    rest = [u for u in range(kernels.shape[0]) if u not in taken]
    values = [scores[n] for n in names]
    if rest:
        names.append("other")
        values.append(float(fn(kernels[rest])))
    return Contributions(inputs.neuron, source, measure, names, values)


@dataclass
class FamilyGraph:
    """Families of consecutive layers, with edges weighted by summed expanded weights."""

    layers: list[str]
    families: list[dict[str, Family]]
    edges: list[tuple[int, str, str, float]]  # (index of the source layer, source family, target family, weight)


def family_paths(model: Model, layers: list[tuple[str, dict[str, Family]]]) -> FamilyGraph:
    """Edge A -> B between families of consecutive `layers`: the summed expanded weight from all
    units of A to a unit of B (summed over kernel positions), averaged over B's units."""
    if len(layers) < 2:
        raise NeuronscopeError("family paths need at least two layers")
    edges = []
    for i, ((src, src_fams), (dst, dst_fams)) in enumerate(zip(layers, layers[1:])):
        targets = sorted({u for g in dst_fams.values() for u in g.units})
        kernels = expanded_weights(model, src, dst, targets).sum(dim=(-2, -1))
        row = {u: j for j, u in enumerate(targets)}
        for a, ga in src_fams.items():
            _check_units(ga, kernels.shape[1], src)
            for b, gb in dst_fams.items():
                block = kernels[[row[u] for u in gb.units]][:, list(ga.units)]
                edges.append((i, a, b, float(block.sum(1).mean())))
    return FamilyGraph([name for name, _ in layers], [f for _, f in layers], edges)


@dataclass
class Downstream:
    """The next-layer units that use a family most, each with its kernels from the family."""

    source_layer: str
    target_layer: str
    family: Family        # ordered by orientation
    units: list[int]         # target units, strongest use first
    scores: list[float]      # summed |weight| from the family
    kernels: torch.Tensor    # (len(units), family units, kh, kw)


def downstream(model: Model, source_layer: str, family: Family, target_layer: str, top: int = 6,
               kernels: torch.Tensor | None = None) -> Downstream:
    """The `top` units of `target_layer` with the largest summed |expanded weight| from `family`."""
    family = family.ordered()
    if kernels is None:
        kernels = expanded_weights(model, source_layer, target_layer)
    _check_units(family, kernels.shape[1], source_layer)
    from_family = kernels[:, list(family.units)]
    score = from_family.abs().flatten(1).sum(1)
    best = torch.argsort(score, descending=True)[:top].tolist()
    return Downstream(source_layer, target_layer, family, best, [float(score[u]) for u in best], from_family[best])


def _check_units(group: Family, count: int, layer: str) -> None:
    group.require()
    bad = [u for u in group.units if not 0 <= u < count]
    if bad:
        raise NeuronscopeError(f"family {group.name!r}: {layer} has {count} units, got unit {bad[0]}")
