"""Feature visualisation: images optimised to excite (or inhibit) neurons, after lucid/lucent.

    from neuronscope.optvis import visualize, objectives
    images = visualize(model, ["mixed3b:379", "mixed3b:406"])   # one batched run
    images = visualize(model, objectives.channel("mixed3b", 379) + 0.01 * objectives.total_variation())
    layers = decompose(model, "mixed3b:379", out_dir="out/")   # per earlier layer, per position
    quilt, vis = attribution_quilt(model, load_stats("stats/"), 379, path="quilt.png")

Modules: `param` (Fourier / pixel images, decorrelated colour), `transforms` (random
robustness transforms), `objectives` (composable losses), `relu` (redirected ReLU), `render`
(the optimisation loop), `decompose` (decomposed feature visualisation over earlier layers),
`attribution_vis` (visualisations of an example's attribution, and the quilt of them).
"""

from neuronscope.optvis import objectives, param, transforms
from neuronscope.optvis.attribution_vis import AttributionVisualization, attribution_quilt, attribution_visualization
from neuronscope.optvis.decompose import LayerDecomposition, decompose, decompose_layer, default_layers, gradient_field
from neuronscope.optvis.objectives import Objective
from neuronscope.optvis.param import FourierImage, ImageParam, PixelImage
from neuronscope.optvis.render import visualize

__all__ = ["AttributionVisualization", "FourierImage", "ImageParam", "LayerDecomposition", "Objective", "PixelImage",
           "attribution_quilt", "attribution_visualization", "decompose", "decompose_layer", "default_layers",
           "gradient_field", "objectives", "param", "transforms", "visualize"]
