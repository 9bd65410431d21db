"""`Model`: one way to run any vision network and read its activations by layer name."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from neuronscope.errors import NeuronscopeError
from neuronscope.models import ops
from neuronscope.models.receptive import ReceptiveField

Intervention = Callable[[torch.Tensor], torch.Tensor]


class StopForward(Exception):
    """Raised inside a forward pass once every requested layer has been recorded."""


class Recorder:
    """Called by a network at each named layer with that layer's pre-activation value.

    It applies interventions, keeps the layers asked for (pre- or post-activation), and stops
    the forward pass as soon as the last of them is known.
    """

    def __init__(self, wanted: Iterable[str], activations: dict, pre_relu: bool = False,
                 interventions: dict[str, Intervention] | None = None, stop: bool = True):
        self.wanted = set(wanted)
        self.activations = activations
        self.pre_relu = pre_relu
        self.interventions = interventions or {}
        self.stop = stop
        self.values: dict[str, object] = {}

    def __call__(self, name: str, value):
        if name in self.interventions and not isinstance(value, ops.Geometry):
            value = self.interventions[name](value)
        if name in self.wanted:
            self.values[name] = value if self.pre_relu else ops.ACTIVATIONS[self.activations[name]](value)
            if self.stop and len(self.values) == len(self.wanted):
                raise StopForward
        return value


class Model:
    """A vision network with named layers.

    Images are RGB floats in [0, 1], shape (N, 3, H, W); the model applies its own
    preprocessing. Subclasses implement `_forward(x, recorder)`, calling the recorder at each
    layer, with "logits" last.
    """

    name: str = "model"
    default_layer: str | None = None   # the layer its curve detectors are in
    default_source: str | None = None  # the layer below it whose families feed them
    layer_prefix: str = ""             # short layer names: "3b" means "mixed3b"
    input_size: int = 224  # the side of the images it was trained on (evaluation crops to it)

    def __init__(self, net: nn.Module, activations: dict[str, str | None],
                 preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 labels: list[str] | None = None):
        self.net = net.eval()
        self.activations = dict(activations)
        self.preprocess = preprocess or (lambda x: x)
        self.labels = labels

    # -- running -----------------------------------------------------------------
    @property
    def layers(self) -> list[str]:
        return list(self.activations)

    @property
    def device(self) -> torch.device:
        tensor = next(self.net.parameters(), None)
        if tensor is None:
            tensor = next(self.net.buffers(), None)
        return tensor.device if tensor is not None else torch.device("cpu")

    def to(self, device) -> Model:
        self.net.to(device)
        return self

    def check_layers(self, layers: Iterable[str]) -> list[str]:
        layers = [layers] if isinstance(layers, str) else list(layers)
        unknown = [name for name in layers if name not in self.activations]
        if unknown:
            raise NeuronscopeError(f"unknown layer {unknown[0]!r} of {self.name}; layers are: {', '.join(self.layers)}")
        return layers

    def run(self, images: torch.Tensor, recorder: Recorder):
        """Run the network with `recorder` called at every layer; returns what it recorded."""
        x = images.to(self.device) if isinstance(images, torch.Tensor) else images
        if isinstance(x, torch.Tensor):
            if x.dim() != 4 or x.shape[1] != 3:
                raise NeuronscopeError(f"images must have shape (N, 3, H, W), got {tuple(x.shape)}")
            x = self.preprocess(x)
        try:
            self._forward(x, recorder)
        except StopForward:
            pass
        return recorder.values

    def capture(self, images: torch.Tensor, layers: Iterable[str] | str, pre_relu: bool = False,
                interventions: dict[str, Intervention] | None = None) -> dict[str, torch.Tensor]:
        """Activations of `layers` (name -> (N, C, H, W); "logits" -> (N, classes)).

        The forward pass stops at the deepest requested layer. `interventions` maps a layer to
        a function that replaces its pre-activation value (for ablations and edits).
        """
        layers = self.check_layers(layers)
        recorder = Recorder(layers, self.activations, pre_relu, interventions)
        values = self.run(images, recorder)
        return {name: values[name] for name in layers}

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.capture(images, ["logits"])["logits"]

    def _forward(self, x, recorder: Recorder):
        raise NotImplementedError

    # -- geometry ------------------------------------------------------------------
    def layer_shapes(self, input_size: int | tuple[int, int] = 224, layers: Iterable[str] | None = None
                     ) -> dict[str, tuple[int, ...]]:
        """Shape of each layer's activation (without batch) for one input of this size; the
        forward pass stops at the deepest of `layers` (default: all)."""
        h, w = _hw(input_size)
        wanted = self.layers if layers is None else self.check_layers(layers)
        recorder = Recorder(wanted, self.activations, pre_relu=True, stop=layers is not None)
        with torch.no_grad():
            values = self.run(torch.zeros(1, 3, h, w, device=self.device), recorder)
        return {name: tuple(values[name].shape[1:]) for name in wanted}

    def receptive_field(self, layer: str, input_size: int | tuple[int, int] = 224) -> ReceptiveField:
        """Exact receptive field of `layer`'s positions for inputs of `input_size` (its local
        field, with `global_dependence` set where the layer also depends on the whole input)."""
        self.check_layers([layer])
        h, w = _hw(input_size)
        geom = self._geometry(layer, h, w)
        return ReceptiveField(layer, (h, w), (geom.h.n, geom.w.n), (geom.h.size, geom.w.size),
                              (geom.h.stride, geom.w.stride), (geom.h.start, geom.w.start), geom.global_dependence)

    def _geometry(self, layer: str, h: int, w: int) -> ops.Geometry:
        recorder = Recorder([layer], self.activations, pre_relu=True)
        return self.run(ops.Geometry.of_input(h, w), recorder)[layer]

    # -- description ----------------------------------------------------------------
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def top_classes(self, logits: torch.Tensor, k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-k (label, probability) for each row of logits."""
        probs = torch.softmax(logits.float(), dim=-1)
        values, indices = probs.topk(k, dim=-1)
        names = self.labels or [str(i) for i in range(logits.shape[-1])]
        return [[(names[i], float(v)) for v, i in zip(vs, ix)] for vs, ix in zip(values.tolist(), indices.tolist())]

    def __repr__(self) -> str:
        return f"<neuronscope.Model {self.name}: {len(self.layers)} layers, {self.parameter_count():,} parameters>"


def _hw(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


class NativeModel(Model):
    """A built-in network whose `forward(x, tap)` calls `tap(name, pre_activation)` at each layer."""

    def __init__(self, net: nn.Module, **kwargs):
        super().__init__(net, net.layer_activations(), **kwargs)

    def _forward(self, x, recorder):
        self.net(x, recorder)


