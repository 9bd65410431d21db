"""neuronscope: reverse-engineer the neurons and circuits of vision models.

    import neuronscope as ns
    model = ns.load_model("efficientnet_lite0")
    acts = model.capture(images, ["block6_expand"], pre_relu=True)

Sub-packages (`ns.stimuli`, `ns.dataset`, `ns.optvis`, ...) are imported on first use, so
`import neuronscope` stays fast.
"""

import importlib

from neuronscope import threads  # first: sets the OpenMP wait policy before torch starts

# isort: split
from neuronscope import images
from neuronscope.errors import NeuronscopeError
from neuronscope.models import MODELS, Model, ReceptiveField, crop_to_field, linearized, load_model, wrap
from neuronscope.neurons import Neuron, parse_neuron

__version__ = "0.1.0"

_SUBPACKAGES = {"stimuli", "dataset", "optvis", "tuning", "families", "circuits", "report", "aann", "surgery",
                "atlas", "experiments", "applications", "notebook"}
_LAZY = {"visualize": "neuronscope.optvis",  # `ns.visualize(model, "mixed3b:379")`
         "show": "neuronscope.notebook"}     # `ns.show(images)`: inline in a notebook

__all__ = ["MODELS", "Model", "Neuron", "NeuronscopeError", "ReceptiveField", "crop_to_field", "images",
           "linearized", "load_model", "parse_neuron", "threads", "wrap", *sorted(_LAZY), *sorted(_SUBPACKAGES)]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"neuronscope.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neuronscope' has no attribute {name!r}")


def __dir__():
    """Everything `ns.<tab>` can reach, the lazily imported sub-packages and functions included."""
    return sorted({*globals(), *__all__})
