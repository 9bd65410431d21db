"""Running the model on only the pixels a neuron objective can see.

A neuron objective reads one position of a layer; only that position's receptive field in the
transformed image gets gradient. `FieldCrop` finds, for each transformed image size, the smallest
window that contains the fields of every targeted position and on which the model computes those
positions exactly as on the whole image: the window starts at a multiple of each layer's stride
and its size keeps each layer's padding where it was (same field start and stride as the whole
image; where a field reaches past an image edge, the window reaches that edge too). The
activations of the window are then zero-padded back to the whole grid, so the objective reads
the same position it would have read. The first time each window is used, the targeted values
are checked against a full forward pass; a window that disagrees is dropped for good. Windows and
checks depend only on the architecture, so they are kept for the process, per network class.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from neuronscope.models.base import NativeModel

# agreement required between the window's and the whole image's activations (relative to their scale)
TOLERANCE = 1e-4
_WINDOWS: dict = {}  # (network class, targets, h, w) -> Window or None
_CHECKED: set = set()  # keys whose window passed its check


@dataclass(frozen=True)
class Window:
    """Input rows y0:y1, columns x0:x1; `pads[layer]` = (left, right, top, bottom) positions that
    restore the layer's whole grid around the window's grid."""

    y0: int
    y1: int
    x0: int
    x1: int
    pads: dict

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        return images[..., self.y0:self.y1, self.x0:self.x1]

    def place(self, acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: F.pad(a, self.pads[name]) for name, a in acts.items()}


class FieldCrop:
    """Windows for the targets `{layer: [position (y, x) or None for the grid's centre, ...]}`;
    `window(h, w)` is None where no window smaller than the image computes them exactly."""

    def __init__(self, model, targets: dict[str, list[tuple[int, int] | None]]):
        self.model = model
        self.targets = {layer: list(positions) for layer, positions in targets.items()}
        self._fields: dict[tuple[str, int, int], object] = {}
        self._key = (type(model.net), tuple(sorted((layer, tuple(p)) for layer, p in self.targets.items())))

    @staticmethod
    def applies(model, targets) -> bool:
        """Only models whose fields come from their architecture (exact and cheap) are cropped."""
        return isinstance(model, NativeModel) and bool(targets)

    def _field(self, layer: str, h: int, w: int):
        key = (layer, h, w)
        if key not in self._fields:
            self._fields[key] = self.model.receptive_field(layer, (h, w))
        return self._fields[key]

    def _axis(self, n: int, other: int, axis: int) -> tuple[int, int, dict[str, tuple[int, int]]] | None:
        """(offset, length, {layer: (before, after) positions}) along one axis, or None."""
        def field(layer, size):
            rf = self._field(layer, size, other) if axis == 0 else self._field(layer, other, size)
            return rf.grid[axis], rf.stride[axis], rf.start[axis], rf.size[axis]

        full, spans = {}, []
        for layer, positions in self.targets.items():
            g, s, start, size = full[layer] = field(layer, n)
            for pos in positions:
                p = (g - 1) // 2 if pos is None else min(max(int(pos[axis]), 0), g - 1)
                spans.append((layer, p, start + p * s, start + p * s + size))
        a, b = min(sp[2] for sp in spans), max(sp[3] for sp in spans)
        if a <= 0 and b >= n:
            return None
        step = math.lcm(*(full[layer][1] for layer in self.targets))
        for offset in range((max(a, 0) // step) * step, -1, -step):
            if a < 0 and offset > 0:
                continue
            lengths = [n - offset] if b > n else range(b - offset, n - offset + 1)
            for length in lengths:
                if length >= n:
                    break
                pads, ok = {}, True
                for layer, (g, s, start, _) in full.items():
                    gc, sc, startc, _ = field(layer, length)
                    shift = offset // s
                    ok = sc == s and startc == start and shift + gc <= g
                    if not ok:
                        break
                    pads[layer] = (shift, g - shift - gc)
                inside = ok and all(0 <= p - pads[layer][0] < full[layer][0] - sum(pads[layer])
                                    for layer, p, _, _ in spans)
                if inside:
                    return offset, length, pads
        return None

    def window(self, h: int, w: int) -> Window | None:
        key = (*self._key, h, w)
        if key not in _WINDOWS:
            ys, xs = self._axis(h, w, 0), self._axis(w, h, 1)
            window = None
            if ys is not None or xs is not None:
                ys = ys or (0, h, {layer: (0, 0) for layer in self.targets})
                xs = xs or (0, w, {layer: (0, 0) for layer in self.targets})
                pads = {layer: (*xs[2][layer], *ys[2][layer]) for layer in self.targets}
                window = Window(ys[0], ys[0] + ys[1], xs[0], xs[0] + xs[1], pads)
            _WINDOWS[key] = window
        return _WINDOWS[key]

    def checked(self, h: int, w: int) -> bool:
        """Whether the window for (h, w) images has passed its check."""
        return (*self._key, h, w) in _CHECKED

    def check(self, images: torch.Tensor, window: Window, capture) -> bool:
        """On a window's first use: do its targeted activations equal the whole image's? A window
        that fails is forgotten (its size then runs uncropped). The window is the same for every
        image of the batch, so the first image checks it (every unit at every targeted position)."""
        key = (*self._key, *images.shape[-2:])
        if key in _CHECKED:
            return True
        images = images[:1]
        layers = sorted(self.targets)
        with torch.no_grad():
            whole = capture(images, layers)
            part = window.place(capture(window.crop(images), layers))
        for layer, positions in self.targets.items():
            g = whole[layer].shape[-2:]
            for pos in positions:
                y, x = [(n - 1) // 2 if pos is None else min(max(int(pos[i]), 0), n - 1) for i, n in enumerate(g)]
                a, b = whole[layer][..., y, x], part[layer][..., y, x]
                if part[layer].shape != whole[layer].shape or \
                        (a - b).abs().max() > TOLERANCE * (1 + a.abs().max()):
                    _WINDOWS[key] = None
                    return False
        _CHECKED.add(key)
        return True
