"""The family-to-family circuit experiment `neuronscope circuit` runs: the family matrix of
expanded weights, its equivariance, the paths between orientation sectors, and the units of the
next layer that use the source family most.

    result = circuit_experiment(model, "block5", "block6_expand", early, late)   # families: Family
    result.equivariance.correlation; result.save("out/")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuronscope.circuits import expanded_weights, figures, views
from neuronscope.circuits.equivariance import Equivariance, equivariance
from neuronscope.errors import NeuronscopeError
from neuronscope.families.family import Family

LINEAR = "expanded, linear approximation (ReLU = identity, max-pool = average-pool)"


def sectors(family: Family, count: int) -> dict[str, Family]:
    """A family split by preferred orientation into `count` equal sectors (empty ones dropped)."""
    if count < 1:
        raise NeuronscopeError("the number of sectors must be >= 1")
    width = family.period / count
    out = {}
    for k in range(count):
        members = [(u, o) for u, o in zip(family.units, family.require_orientations())
                   if int(o % family.period // width) == k]
        if members:
            name = f"{k * width:.0f}-{(k + 1) * width:.0f}°"
            out[name] = Family.from_units([u for u, _ in members], [o for _, o in members], layer=family.layer,
                                          kind=family.kind, name=name)
    return out


@dataclass
class CircuitResult:
    model: str
    source_layer: str
    target_layer: str
    matrix: views.FamilyMatrix
    equivariance: Equivariance
    paths: views.FamilyGraph
    downstream: views.Downstream

    def summary(self) -> dict:
        def family(f: Family) -> dict:
            return {"units": list(f.units), "orientations_deg": list(f.orientations or [])}

        return {
            "model": self.model, "from": self.source_layer, "to": self.target_layer, "weights": LINEAR,
            "source_family": family(self.matrix.source), "target_family": family(self.matrix.target),
            "equivariance": self.equivariance.summary(),
            "paths": [{"from": f"{self.source_layer} {a}", "to": f"{self.target_layer} {b}", "weight": round(w, 5)}
                      for _, a, b, w in self.paths.edges],
            "downstream": [{"unit": u, "summed_abs_weight": round(s, 5)}
                           for u, s in zip(self.downstream.units, self.downstream.scores)],
        }

    def save(self, out) -> list[Path]:
        """matrix.npz, the four figures (matrix, equivariance, paths, downstream) and summary.json."""
        from neuronscope.tuning.figures import save

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        m = self.matrix
        np.savez_compressed(out / "matrix.npz", kernels=m.kernels.cpu().numpy(), summed=m.summed.cpu().numpy(),
                            source_units=m.source.units, target_units=m.target.units)
        paths = [save(figures.plot_family_matrix(m), out / "matrix.png"),
                 save(figures.plot_equivariance(self.equivariance, m), out / "equivariance.png"),
                 save(figures.plot_paths(self.paths), out / "paths.png"),
                 save(figures.plot_downstream(self.downstream), out / "downstream.png")]
        (out / "summary.json").write_text(json.dumps(self.summary(), indent=1) + "\n")
        return [*paths, out / "matrix.npz", out / "summary.json"]

    def __repr__(self) -> str:
        e = self.equivariance
        return (f"<CircuitResult {self.source_layer} {len(self.matrix.source)} units -> {self.target_layer} "
                f"{len(self.matrix.target)} units: equivariance correlation {e.correlation:.2f}>")

    def _repr_html_(self) -> str:
        from neuronscope.notebook import figure_html

        return (f"<div><b>{repr(self)[1:-1]}</b><br>{figure_html(figures.plot_family_matrix(self.matrix))}"
                f"{figure_html(figures.plot_equivariance(self.equivariance, self.matrix))}</div>")


def circuit_experiment(model, source_layer: str, target_layer: str, source: Family, target: Family, *,
                       bin_deg: float = 45.0, shuffles: int = 200, seed: int = 0, sector_count: int = 4,
                       top: int = 6) -> CircuitResult:
    """Expanded weights from `source` (a family of `source_layer`) to `target`: the family matrix,
    its equivariance (`bin_deg` bins, `shuffles` seeded orientation shuffles as the null), the
    paths between `sector_count` orientation sectors of each family, and the `top` units of
    `target_layer` that use the source family most."""
    kernels = expanded_weights(model, source_layer, target_layer)
    matrix = views.family_matrix(model, source_layer, source, target_layer, target, kernels=kernels)
    eq = equivariance(matrix, bin_deg, shuffles, seed)
    graph = views.family_paths(model, [(source_layer, sectors(source, sector_count)),
                                       (target_layer, sectors(target, sector_count))])
    down = views.downstream(model, source_layer, source, target_layer, top, kernels=kernels)
    return CircuitResult(model.name, source_layer, target_layer, matrix, eq, graph, down)
