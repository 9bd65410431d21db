"""The surgery experiment `neuronscope surgery` runs: accuracy with a layer's curve family
ablated, replaced by artificial curve detectors built from the source layer's families, and
with as many random units ablated.

    rows = read_labels("labels.csv", "index_1000")
    result = family_surgery(model, "images/", rows)     # the model's curve layer and its found family
    print(result.table())
"""

from __future__ import annotations

from neuronscope.aann import Motif, build_layer
from neuronscope.aann.layer import source_layer
from neuronscope.experiments.aann import natural_family, source_families
from neuronscope.surgery import SurgeryResult, run_surgery


def family_surgery(model, images, rows, layer: str | None = None, *, family=None, replace: bool = True,
                   source: str | None = None, motif: Motif | None = None, lines=None, curves=None,
                   random_seeds=(0, 1, 2, 3, 4), batch_size: int = 50, n_boot: int = 1000, seed: int = 0,
                   cache_mb: float = 4096, progress: bool = True) -> SurgeryResult:
    """`run_surgery` on `layer` (default: the model's curve layer) and its curve `family` (given,
    else found), with the family replaced by artificial units (unless `replace` is False) built
    from `source`'s line and curve families (given, else found) with `motif`. The result's notes
    record the motif and the source units."""
    layer = layer or model.default_layer
    model.check_layers([layer])
    family = natural_family(model, layer, family)
    artificial = None
    if replace:
        source = source or source_layer(model, layer)
        artificial = build_layer(model, source, layer, family.orientations, motif=motif or Motif(),
                                 **source_families(model, source, lines, curves))
    result = run_surgery(model, layer, family.units, images, rows, artificial=artificial,
                         random_seeds=list(random_seeds), batch_size=batch_size, n_boot=n_boot, seed=seed,
                         cache_mb=cache_mb, progress=progress)
    if artificial is not None:
        result.notes["motif"] = vars(artificial.motif)
        result.notes["sources"] = [vars(s) for s in artificial.sources]
    return result
