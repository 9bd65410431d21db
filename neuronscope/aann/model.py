"""A Model whose target layer is the artificial curve layer applied on the source layer, so
every neuronscope tool (tuning, feature visualisation, receptive fields) reads artificial units
exactly as it reads natural ones."""

from __future__ import annotations

from torch import nn

from neuronscope.aann.layer import ArtificialCurves
from neuronscope.models import Model, ops


class _Reached(Exception):
    """Carries the source layer's value out of the base network's forward pass."""

    def __init__(self, value):
        self.value = value


class _SourceTap:
    """Stands in for the recorder while the base network runs: passes the base layers up to
    the source to the real recorder and stops the base network at the source."""

    def __init__(self, recorder, source: str, base_layers):
        self.recorder, self.source = recorder, source
        self.wanted = {n for n in recorder.wanted if n in base_layers} | {source}
        self.interventions = {n: f for n, f in recorder.interventions.items() if n in base_layers}
        self.base_layers = base_layers

    def __call__(self, name, value):
        if name in self.base_layers:
            value = self.recorder(name, value)
        if name == self.source:
            raise _Reached(value)
        return value


class ArtificialModel(Model):
    """`base`'s layers up to the source, then `layer.target` = the artificial units (with the
    natural target's activation function). It has no logits: it ends at the artificial layer."""

    def __init__(self, base: Model, layer: ArtificialCurves):
        base.check_layers([layer.source, layer.target])
        keep = base.layers[:base.layers.index(layer.source) + 1]
        activations = {name: base.activations[name] for name in keep}
        activations[layer.target] = base.activations[layer.target]
        super().__init__(nn.ModuleDict({"base": base.net, "artificial": layer}), activations, base.preprocess)
        self.base, self.layer = base, layer
        self.name = f"{base.name}+aann"
        self.default_layer = layer.target
        self._base_layers = set(keep)

    def _forward(self, x, recorder):
        tap = _SourceTap(recorder, self.layer.source, self._base_layers)
        try:
            self.base._forward(x, tap)
        except _Reached as reached:
            value = ops.ACTIVATIONS[self.base.activations[self.layer.source]](reached.value)
            recorder(self.layer.target, self.layer(value))
            return
        raise RuntimeError(f"{self.base.name} never reached {self.layer.source!r}")

    def _geometry(self, layer, h, w):
        """The base model's geometry (however it measures it), carried through the conv."""
        if layer == self.layer.target:
            return self.layer(self.base._geometry(self.layer.source, h, w))
        return self.base._geometry(layer, h, w)


def artificial_model(model: Model, layer: ArtificialCurves) -> Model:
    """`model` up to `layer.source`, then the artificial units as layer `layer.target`:
    `artificial_model(m, layer).capture(images, [layer.target])` gives their pre-activations."""
    return ArtificialModel(model, layer)
