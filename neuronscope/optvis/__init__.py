"""Feature visualisation: images optimised to excite (or inhibit) neurons, after lucid/lucent.

    from neuronscope.optvis import visualize, objectives
    images = visualize(model, ["mixed3b:379", "mixed3b:406"], steps=512)   # one batched run
    images = visualize(model, objectives.channel("mixed3b", 379) + 0.01 * objectives.total_variation())

Modules: `param` (Fourier / pixel images, decorrelated colour), `transforms` (random
robustness transforms), `objectives` (composable losses), `relu` (redirected ReLU), `render`
(the optimisation loop).
"""

from neuronscope.optvis import objectives, param, transforms
from neuronscope.optvis.objectives import Objective
from neuronscope.optvis.param import FourierImage, ImageParam, PixelImage
from neuronscope.optvis.render import visualize

__all__ = ["FourierImage", "ImageParam", "Objective", "PixelImage", "objectives", "param", "transforms", "visualize"]
