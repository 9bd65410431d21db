"""Models: the built-in networks, `load_model`, `wrap`, and receptive-field geometry."""

from neuronscope.models.base import Model, Recorder
from neuronscope.models.ops import linearized
from neuronscope.models.receptive import ReceptiveField, crop_to_field
from neuronscope.models.wrap import wrap
from neuronscope.models.zoo import MODELS, load_model

__all__ = ["MODELS", "Model", "ReceptiveField", "Recorder", "crop_to_field", "linearized", "load_model", "wrap"]
