"""Neuron ids: `mixed3b:379`, `3b:379` (short for mixed3b: the model's `layer_prefix`), `mixed3b:379@14,14`
(at a position)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from neuronscope.errors import NeuronscopeError

_PATTERN = re.compile(r"^(?P<layer>[^:@\s]+):(?P<unit>\d+)(?:@(?P<y>\d+),(?P<x>\d+))?$")


@dataclass(frozen=True)
class Neuron:
    layer: str
    unit: int
    position: tuple[int, int] | None = None

    def __str__(self) -> str:
        at = f"@{self.position[0]},{self.position[1]}" if self.position else ""
        return f"{self.layer}:{self.unit}{at}"

    @property
    def slug(self) -> str:
        """A file-name-safe form, e.g. mixed3b_379."""
        return str(self).replace(":", "_").replace("@", "_at").replace(",", "_")


def parse_neuron(text: str, model=None, input_size: int = 224) -> Neuron:
    """Parse a neuron id; with a model, check the layer, unit and position exist."""
    match = _PATTERN.match(text.strip())
    if not match:
        raise NeuronscopeError(f"bad neuron id {text!r}; expected LAYER:UNIT or LAYER:UNIT@Y,X, e.g. mixed3b:379")
    layer, unit = match["layer"], int(match["unit"])
    position = (int(match["y"]), int(match["x"])) if match["y"] is not None else None
    if model is None:
        return Neuron(layer, unit, position)
    prefix = getattr(model, "layer_prefix", "")
    if prefix and layer not in model.layers and prefix + layer in model.layers:
        layer = prefix + layer
    model.check_layers([layer])
    shape = model.layer_shapes(input_size, [layer])[layer]
    if unit >= shape[0]:
        raise NeuronscopeError(f"{layer} has {shape[0]} units (0-{shape[0] - 1}); got unit {unit}")
    if position is not None and (len(shape) < 3 or position[0] >= shape[1] or position[1] >= shape[2]):
        raise NeuronscopeError(f"position {position} is outside {layer}'s grid {shape[1:]} at input size {input_size}")
    return Neuron(layer, unit, position)
