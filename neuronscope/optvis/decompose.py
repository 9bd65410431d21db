"""Decomposed feature visualisation (the Curve Detectors article's "decomposed feature
visualization"): what a neuron wants to see at each position of an earlier layer.

For a neuron and an earlier layer, take the gradient of the neuron's pre-activation with respect
to that layer in the linearised model (`ns.linearized()`: ReLUs become identities, max-pools
average-pools). At each position of the layer inside the neuron's receptive field the gradient is
a vector over the layer's units; a feature visualisation of that direction (the image whose
activation vector at the layer's central position has the largest dot product with it) shows
what the neuron looks for there. All positions of a layer render as one batched optimisation, and
the figure lays the tiles out spatially, each faded towards white by its gradient norm.

    layers = decompose(model, "mixed3b:379")            # default layers: conv2d2, mixed3a
    layers[0].save("out/")                              # conv2d2.png, conv2d2.npz
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuronscope.errors import NeuronscopeError
from neuronscope.models.ops import linearized
from neuronscope.neurons import Neuron, parse_neuron
from neuronscope.optvis import objectives
from neuronscope.optvis.render import visualize
from neuronscope.stimuli.tiling import save_grid, tile

# Layers that a whole network's computation passes through (not branches, pools or norms) in the
# built-in models; default decomposition layers are chosen among them.
MAIN_LAYER = re.compile(r"conv2d\d+|mixed\d+[a-z]|stem|block\d+|head")


@dataclass(repr=False)
class LayerDecomposition:
    """One layer of a decomposition. `gradient` (C, h, w) covers the box of the layer's grid
    (at the model's `input_size`) where the neuron's gradient is non-zero, whose top-left position
    is `origin`; `images` (h, w, 3, size, size) holds the visualisation of each position's
    gradient direction where `rendered` (h, w) is True (zeros elsewhere)."""

    neuron: Neuron
    layer: str
    gradient: torch.Tensor
    origin: tuple[int, int]
    images: torch.Tensor
    rendered: torch.Tensor

    def __repr__(self) -> str:
        h, w = self.rendered.shape
        shown = int(self.rendered.sum())
        return f"<LayerDecomposition {self.neuron} on {self.layer}: {h}x{w} positions, {shown} rendered>"

    def _repr_html_(self) -> str:
        from neuronscope.notebook import Images

        return Images(self.figure()[None], [repr(self)[1:-1]])._repr_html_()

    @property
    def norms(self) -> torch.Tensor:
        """(h, w) gradient norm per position."""
        return self.gradient.norm(dim=0)

    def figure(self, gap: int = 1, background: float = 1.0) -> torch.Tensor:
        """(3, H, W) the tiles in the layer's spatial layout, tile (y, x) blended over
        `background` with opacity norm(y, x) / max norm; positions not rendered are background."""
        h, w = self.rendered.shape
        alpha = (self.norms / self.norms.max() * self.rendered).view(h, w, 1, 1, 1)
        tiles = alpha * self.images + (1 - alpha) * background
        return tile(tiles.flatten(0, 1), ncols=w, padding=gap, pad_value=background)

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write LAYER.png (the figure) and LAYER.npz (gradient, origin, norms, rendered, uint8
        images, neuron id) into `out_dir`."""
        out = Path(out_dir)
        png = save_grid(self.figure()[None], out / f"{self.layer}.png", padding=0)
        pixels = (self.images.clamp(0, 1) * 255).round().to(torch.uint8)
        np.savez_compressed(out / f"{self.layer}.npz", neuron=str(self.neuron), layer=self.layer,
                            gradient=self.gradient.numpy(), origin=np.array(self.origin), norms=self.norms.numpy(),
                            rendered=self.rendered.numpy(), images=pixels.numpy())
        return png, out / f"{self.layer}.npz"


def _neuron(model, neuron, input_size: int) -> Neuron:
    return neuron if isinstance(neuron, Neuron) else parse_neuron(str(neuron), model, input_size)


def gradient_field(model, neuron, layer: str, input_size: int = 224) -> torch.Tensor:
    """(C, H, W): d(neuron's pre-activation) / d(`layer`'s value) over the layer's whole grid, in
    the linearised model, for an input of `input_size` (the neuron at its id's position, else
    the central one). Computed at a mid-grey image: the linearised network is affine, so the
    gradient does not depend on the image (except through InceptionV1's local response norms)."""
    neuron = _neuron(model, neuron, input_size)
    model.check_layers([layer])
    if model.layers.index(layer) >= model.layers.index(neuron.layer):
        raise NeuronscopeError(f"{layer} does not come before {neuron.layer} in {model.name}")
    leaf = []

    def replace(value):
        leaf.append(value.detach().requires_grad_(True))
        return leaf[-1]

    grey = torch.full((1, 3, input_size, input_size), 0.5, device=model.device)
    with linearized(), torch.enable_grad():
        out = model.capture(grey, [neuron.layer], pre_relu=True, interventions={layer: replace})[neuron.layer]
        if out.dim() == 4:
            y, x = neuron.position or ((out.shape[2] - 1) // 2, (out.shape[3] - 1) // 2)
            out = out[..., y, x]
        target = out[0, neuron.unit]
        grad = torch.autograd.grad(target, leaf, allow_unused=True)[0] if leaf and target.requires_grad else None
    if grad is None or not grad.any():
        raise NeuronscopeError(f"{neuron} does not depend on {layer}")
    if grad.dim() != 4:
        raise NeuronscopeError(f"{layer} has no spatial positions to decompose over")
    return grad[0]


def footprint_box(model, layer: str, source: str, position: tuple[int, int] | None = None,
                  input_size: int = 224) -> tuple[int, int, int, int]:
    """(top, left, height, width) in `source`'s grid of the positions whose receptive fields lie
    inside that of `layer`'s `position` (default: central), i.e. the positions it sees; top and
    left may be negative (and the box may pass the grid's far edges) near the image border."""
    target, field = model.receptive_field(layer, input_size), model.receptive_field(source, input_size)
    box = target.box(*(position or target.central_position()))
    out = []
    for axis in (0, 1):
        lo, hi = box[axis], box[axis + 2]
        first = -(-(lo - field.start[axis]) // field.stride[axis])
        last = (hi - field.size[axis] - field.start[axis]) // field.stride[axis]
        out.append((first, last - first + 1))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def default_layers(model, layer: str, input_size: int = 224, count: int = 2) -> list[str]:
    """The `count` deepest main layers (`MAIN_LAYER`; all layers for a model without such names)
    before `layer` in which it sees at least 3 x 3 positions, shallowest first: conv2d2 and mixed3a
    for InceptionV1's mixed3b, block3 and block4 for EfficientNet-Lite0's block6_expand."""
    model.check_layers([layer])
    earlier = model.layers[:model.layers.index(layer)]
    main = [name for name in earlier if MAIN_LAYER.fullmatch(name)] or earlier
    shapes = model.layer_shapes(input_size, main)
    chosen = []
    for name in reversed(main):
        if len(chosen) == count:
            break
        if len(shapes[name]) == 3 and min(footprint_box(model, layer, name, None, input_size)[2:]) >= 3:
            chosen.append(name)
    if not chosen:
        raise NeuronscopeError(f"no earlier layer of {model.name} in which {layer} sees 3 x 3 positions; "
                               "name the layers")
    return chosen[::-1]


def decompose_layer(model, neuron, layer: str, steps: int = 128, size: int = 48, seed: int = 0,
                    input_size: int = 224, min_norm: float = 0.05, pre_relu: bool = False,
                    progress: bool = True, **visualize_kwargs) -> LayerDecomposition:
    """Decompose `neuron` over one earlier `layer`: every position whose gradient norm is at
    least `min_norm` times the largest gets a `size`-pixel visualisation of its (unit-length)
    gradient direction, read at the layer's central position after the layer's ReLU (before it
    with `pre_relu`), all in one batched `visualize` run of `steps` steps (image k from seed + k;
    `visualize_kwargs` go to `visualize`)."""
    neuron = _neuron(model, neuron, input_size)
    grad = gradient_field(model, neuron, layer, input_size)
    norms = grad.norm(dim=0)
    ys, xs = (norms > 0).nonzero(as_tuple=True)
    box = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
    gradient, norms = grad[:, box[0], box[1]].float().cpu(), norms[box].float().cpu()
    rendered = norms >= min_norm * norms.max()
    vectors = gradient[:, rendered].T
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    activation = None if pre_relu else model.activations[layer]
    objective = objectives.direction(layer, vectors, position="center", activation=activation)
    rendered_images = visualize(model, objective, steps=steps, size=size, seed=seed, pre_relu=True,
                                progress=progress, **visualize_kwargs)
    images = torch.zeros(*rendered.shape, 3, size, size)
    images[rendered] = rendered_images
    return LayerDecomposition(neuron, layer, gradient, (box[0].start, box[1].start), images, rendered)


def decompose(model, neuron, layers=None, steps: int = 128, size: int = 48, seed: int = 0, input_size: int = 224,
              out_dir: str | Path | None = None, **kwargs) -> list[LayerDecomposition]:
    """`decompose_layer` for each of `layers` (default: `default_layers`), shallowest first;
    with `out_dir`, each is saved there (LAYER.png, LAYER.npz). Small tiles (48 px) and 128 steps
    keep a decomposition to minutes on a CPU."""
    neuron = _neuron(model, neuron, input_size)
    layers = default_layers(model, neuron.layer, input_size) if layers is None else list(layers)
    if not layers:
        raise NeuronscopeError("no layers to decompose over")
    out = []
    for layer in layers:
        result = decompose_layer(model, neuron, layer, steps, size, seed, input_size, **kwargs)
        if out_dir is not None:
            result.save(out_dir)
        out.append(result)
    return out
