"""Running a network in two parts: once up to a layer, then only the rest, once per edit.

`Model.capture` always runs from the input. To rerun only the part above a layer L, the
network is run on one tiny dummy image and L's value is replaced (by an intervention) with
the batch of values the real images gave; everything above L then sees exactly what the
full forward pass would have seen, provided nothing from below L skips over it (a residual
connection around L would carry the dummy's values, broadcast). So the split is checked: L
is the deepest layer at or before the edited one for which the tail reproduces the full
network's logits on real images. Where no small dummy works a full-size one is tried
(correct, but no faster).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.models import Model

SMALL = 32  # side of the small dummy input
MAX_CANDIDATES = 8


class SplitForward:
    """`head(images, layers)` runs up to the split layer (returning it and `layers`,
    pre-activation); `tail(value, interventions)` runs from it to the logits."""

    def __init__(self, model: Model, layer: str, images: torch.Tensor):
        """Find the split for edits of `layer`, checked on `images` (a few real images)."""
        model.check_layers([layer])
        self.model = model
        index = model.layers.index(layer)
        candidates = model.layers[max(0, index + 1 - MAX_CANDIDATES):index + 1][::-1]
        with torch.no_grad():
            want = model.capture(images, ["logits"])["logits"]
            values = model.capture(images, candidates, pre_relu=True)
            for size in ((SMALL, SMALL), tuple(images.shape[-2:])):
                for name in candidates:
                    self.start, self.size = name, size
                    if self._reproduces(values[name], want):
                        return
        raise NeuronscopeError(f"cannot rerun {model.name} from any layer up to {layer!r} "
                               f"(every tail tried disagreed with the full network)")

    def _reproduces(self, value: torch.Tensor, want: torch.Tensor) -> bool:
        try:
            got = self.tail(value)
        except (RuntimeError, ValueError, IndexError):
            return False
        scale = want.abs().max().clamp(min=1e-6)
        return got.shape == want.shape and bool(((got - want).abs() <= 1e-4 * scale + 1e-4 * want.abs()).all())

    def head(self, images: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Pre-activation values of the split layer and `layers` (all at or before it)."""
        return self.model.capture(images, [self.start, *[n for n in layers if n != self.start]], pre_relu=True)

    def tail(self, value: torch.Tensor,
             interventions: dict[str, Callable[[torch.Tensor], torch.Tensor]] | None = None) -> torch.Tensor:
        """Logits of the network continued from the split layer's (pre-activation) `value`,
        with `interventions` (at the split layer or above) applied on the way."""
        edits = dict(interventions or {})
        edit = edits.pop(self.start, None)
        edits[self.start] = (lambda _v: edit(value)) if edit else (lambda _v: value)
        dummy = torch.zeros(1, 3, *self.size, device=value.device)
        return self.model.capture(dummy, ["logits"], interventions=edits)["logits"]
