"""A probe: one position of a layer, evaluated on the smallest input that gives its exact value.

A position's value depends only on the input pixels in its receptive field. With TensorFlow
"SAME" padding the padding of a strided op depends on its input size, so a crop reproduces
the full image's value only if every strided op pads it the same way and its grid lines up
with the full image's. Both hold when the crop's offset and size are multiples of the layer's
total stride S and the full image's size is too (then every op's input size is a multiple of
its stride and gets the padding a 224 image gets), and the crop holds the whole field (or
reaches the image border where the field does). So the minimal input is the field's box,
widened outward to the stride grid: 96 x 96 instead of 224 x 224 for block6_expand of
EfficientNet-Lite0. Where the full image's size is not a multiple of S, the probe uses the
full image. The crop's geometry is checked against the full image's before use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.models import ReceptiveField


@dataclass(frozen=True)
class Probe:
    """`model`'s `layer` at `position` (of the grid for `field.input_size` inputs), read from
    the input window of `size` (H, W) at `offset` (top, left) of the full image."""

    model: object
    layer: str
    position: tuple[int, int]
    field: ReceptiveField
    offset: tuple[int, int]
    size: tuple[int, int]
    local: tuple[int, int]  # the position in the grid of the window
    channels: int           # units in the layer

    @property
    def center(self) -> tuple[float, float]:
        """The field's centre in window pixel coordinates: where stimuli are centred."""
        cy, cx = self.field.center(*self.position)
        return cy - self.offset[0], cx - self.offset[1]

    @property
    def field_size(self) -> float:
        """Side of the (square or mean) receptive field in pixels: the unit of stimulus sizes."""
        return (self.field.size[0] + self.field.size[1]) / 2

    @property
    def device(self) -> torch.device:
        return self.model.device

    def window(self, images: torch.Tensor) -> torch.Tensor:
        """Cut this probe's input window out of full-size (N, 3, H, W) images."""
        if tuple(images.shape[-2:]) != tuple(self.field.input_size):
            raise NeuronscopeError(f"images must be {self.field.input_size}, got {tuple(images.shape[-2:])}")
        (top, left), (h, w) = self.offset, self.size
        return images[..., top:top + h, left:left + w]

    def evaluate(self, images: torch.Tensor, units=None, pre_relu: bool = True) -> torch.Tensor:
        """(N, U) values of `units` (default all) at the position for window-size images.

        Images are passed channels-last (faster convolutions on CPU and GPU); values differ from
        the default memory format's only by float rounding."""
        if tuple(images.shape[-2:]) != self.size:
            raise NeuronscopeError(f"probe inputs must be {self.size}, got {tuple(images.shape[-2:])}")
        x = images.to(self.device, memory_format=torch.channels_last)
        with torch.no_grad():
            acts = self.model.capture(x, [self.layer], pre_relu=pre_relu)[self.layer]
        values = acts[:, :, self.local[0], self.local[1]]
        return values if units is None else values[:, _index(units, values.device)]

    def measure(self, render: Callable[..., torch.Tensor], params: dict[str, torch.Tensor], *, units=None,
                pre_relu: bool = True, batch_size: int = 256, **fixed) -> torch.Tensor:
        """Render and evaluate stimuli in batches: the one sweep loop every experiment uses.

        `params` are equal-length tensors (one entry per stimulus); `render(**params_batch,
        **fixed, size=, center=, device=)` is a `neuronscope.stimuli` renderer or alike; `center`
        defaults to the field's centre (a per-stimulus (N, 2) `center` in `params` overrides it).
        Returns (N, U) values, on the CPU.
        """
        lengths = {len(v) for v in params.values()}
        if len(lengths) != 1:
            raise NeuronscopeError("stimulus parameters must have equal lengths")
        (n,) = lengths
        out = []
        for start in range(0, n, batch_size):
            batch = {k: v[start:start + batch_size] for k, v in params.items()}
            images = render(**{"center": self.center, **fixed, **batch}, size=self.size, device=self.device)
            out.append(self.evaluate(images, units, pre_relu).float().cpu())
        return torch.cat(out) if out else torch.empty(0, 0)


def _index(units, device) -> torch.Tensor:
    return torch.as_tensor([units] if isinstance(units, int) else list(units), dtype=torch.long, device=device)


def make_probe(model, layer: str | None = None, position: tuple[int, int] | None = None,
               input_size: int = 224) -> Probe:
    """The probe of `layer` (default `model.default_layer`) at `position` (default the central
    one) of `input_size` inputs, on its minimal exact input window."""
    layer = layer or model.default_layer
    if layer is None:
        raise NeuronscopeError(f"{model.name} has no default layer; name one")
    model.check_layers([layer])
    field = model.receptive_field(layer, input_size)
    position = tuple(int(p) for p in (position if position is not None else field.central_position()))
    if not field.contains(*position):
        raise NeuronscopeError(f"position {position} is outside {layer}'s {field.grid[0]}x{field.grid[1]} grid")
    top, left, bottom, right = field.box(*position)
    offset, size = zip(*(_span(lo, hi, n, s) for lo, hi, n, s in
                         ((top, bottom, field.input_size[0], field.stride[0]),
                          (left, right, field.input_size[1], field.stride[1]))))
    local = tuple((o // s) for o, s in zip(offset, field.stride))
    local = (position[0] - local[0], position[1] - local[1])
    if size != field.input_size and not _aligned(model, layer, field, position, offset, size, local):
        offset, size, local = (0, 0), field.input_size, position
    with torch.no_grad():
        channels = model.capture(torch.zeros(1, 3, *size, device=model.device), [layer])[layer].shape[1]
    return Probe(model, layer, position, field, offset, size, local, channels)


def _span(lo: int, hi: int, n: int, stride: int) -> tuple[int, int]:
    """(offset, length): [lo, hi) clipped to [0, n) and widened outward to multiples of stride."""
    if n % stride:
        return 0, n
    start = max(lo, 0) // stride * stride
    end = min(-(-min(hi, n) // stride) * stride, n)
    return start, end - start


def _aligned(model, layer, field, position, offset, size, local) -> bool:
    """Whether the window's own geometry puts `local`'s field exactly on `position`'s."""
    inner = model.receptive_field(layer, size)
    if not inner.contains(*local) or inner.stride != field.stride:
        return False
    box = inner.box(*local)
    want = field.box(*position)
    return (box[0] + offset[0], box[1] + offset[1], box[2] + offset[0], box[3] + offset[1]) == want

