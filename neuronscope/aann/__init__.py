"""Artificial artificial neural network: curve detectors built by hand from the curve motif.

    from neuronscope.aann import Motif, build_layer, artificial_model
    layer = build_layer(model, "block4_expand", "block6_expand", range(0, 360, 45),
                        lines=[(12, 0.0), (40, 45.0), ...])    # or find_family results
    amodel = artificial_model(model, layer)   # its "block6_expand" is the artificial units
    amodel.capture(images, ["block6_expand"], pre_relu=True)

    from neuronscope.aann.compare import compare_kernels, compare_tuning
    compare_kernels(model, layer, natural_family).comparison.matched   # kernel correlations
    compare_tuning(model, layer, natural_family).comparison.matched    # radial tuning correlations

Modules: `motif` (the weight formula, pure geometry), `layer` (the `ArtificialCurves` conv and
`build_layer`), `model` (a `Model` exposing the artificial units), `families` (reading or
finding the families), `compare` (artificial vs natural), `figures` (side-by-side views).
"""

from neuronscope.aann.layer import ArtificialCurves, SourceUnit, build_layer, source_units
from neuronscope.aann.model import ArtificialModel, artificial_model
from neuronscope.aann.motif import Motif, angle_between, motif_kernels, motif_weight, nearest_on_arc

__all__ = ["ArtificialCurves", "ArtificialModel", "Motif", "SourceUnit", "angle_between", "artificial_model",
           "build_layer", "motif_kernels", "motif_weight", "nearest_on_arc", "source_units"]
