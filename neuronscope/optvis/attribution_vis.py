"""Attribution visualisation: what, in one example, made a neuron fire.

`neuronscope.attribution.attribute` splits a neuron's pre-activation on an example over the
units and positions of an earlier layer (activation times weight, through the linearised path).
Its absolute value, over the positions the neuron sees, is a spatial field; the feature
visualisation of that field (the `spatial` objective: its dot product with the layer's
activation) renders the example's evidence as the network sees it. `attribution_quilt` puts
a neuron's top dataset examples beside their attribution visualisations.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from neuronscope.attribution import Attribution, attribute
from neuronscope.dataset.crops import example_crop, load_pixels
from neuronscope.dataset.figures import check_unit
from neuronscope.errors import NeuronscopeError
from neuronscope.neurons import Neuron
from neuronscope.optvis import objectives
from neuronscope.optvis.decompose import footprint_box
from neuronscope.optvis.render import visualize
from neuronscope.stimuli.tiling import save_grid, tile


class AttributionVisualization(NamedTuple):
    images: torch.Tensor  # (N, 3, size, size) in [0, 1], on the CPU
    fields: torch.Tensor  # (N, C, h, w): |attribution| over the source positions each target sees
    attribution: Attribution

    def __repr__(self) -> str:
        a = self.attribution
        return f"<AttributionVisualization {a.source} -> {a.layer}: {len(self.images)} images>"

    def _repr_html_(self) -> str:
        from neuronscope.notebook import Images

        return Images(self.images)._repr_html_()


def attribution_fields(model, attribution: Attribution, input_size: int) -> torch.Tensor:
    """(N, C, h, w): the absolute attribution over the footprint (`footprint_box`) of each
    example's target position in the source layer; zero where the footprint leaves the grid, so
    the field's centre stays the target's centre."""
    if attribution.positions is None or attribution.values.dim() != 4:
        raise NeuronscopeError(f"attribution from {attribution.source} to {attribution.layer} has no spatial field")
    values = attribution.values.detach().abs().float().cpu()
    gh, gw = values.shape[-2:]
    fields = []
    for value, position in zip(values, attribution.positions):
        top, left, h, w = footprint_box(model, attribution.layer, attribution.source, position, input_size)
        field = torch.zeros(value.shape[0], h, w)
        ys, xs = slice(max(top, 0), min(top + h, gh)), slice(max(left, 0), min(left + w, gw))
        field[:, ys.start - top:ys.stop - top, xs.start - left:xs.stop - left] = value[:, ys, xs]
        fields.append(field)
    return torch.stack(fields)


def attribution_visualization(model, neuron, image: torch.Tensor, source_layer: str | None = None,
                              positions=None, steps: int = 256, size: int | None = None, seed: int = 0,
                              progress: bool = True, **visualize_kwargs) -> AttributionVisualization:
    """Visualise the attribution of `neuron` on `image` ((3, H, W) or a batch (N, 3, H, W) in
    [0, 1]) to `source_layer` (default: the previous layer, see `attribution.previous_layer`).
    `positions`: the neuron's (y, x) on each image (as `attribute`; default the neuron id's, else
    the central). Each image's field, normalised to unit length, is rendered by maximising its
    dot product with the source layer's (post-activation) value, all images in one `visualize` run
    of `steps` steps at `size` px (default: the neuron's receptive-field size)."""
    images = image[None] if image.dim() == 3 else image
    attribution = attribute(model, neuron, images, positions=positions, source=source_layer)
    input_size = images.shape[-1]
    fields = attribution_fields(model, attribution, input_size)
    norms = fields.flatten(1).norm(dim=1)
    if not norms.all():
        raise NeuronscopeError(f"{attribution.layer}:{attribution.unit} has zero attribution on an example")
    activation = model.activations[attribution.source]
    objective = sum(objectives.spatial(attribution.source, field / n, batch=i, activation=activation)
                    for i, (field, n) in enumerate(zip(fields, norms)))
    size = size or model.receptive_field(attribution.layer, input_size).size[0]
    rendered = visualize(model, objective, steps=steps, size=size, seed=seed, pre_relu=True, progress=progress,
                         **visualize_kwargs)
    return AttributionVisualization(rendered, fields, attribution)


def _thumbnail(images: torch.Tensor, thumb: int) -> torch.Tensor:
    return F.interpolate(images, size=(thumb, thumb), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def attribution_quilt(model, stats, unit: int, count: int = 6, path: str | Path | None = None,
                      source_layer: str | None = None, per_row: int = 3, thumb: int = 96, steps: int = 256,
                      size: int | None = None, seed: int = 0,
                      progress: bool = True) -> tuple[torch.Tensor, AttributionVisualization]:
    """The unit's `count` strongest dataset examples (`stats.top(unit)`, from `load_stats`), each
    as its receptive-field crop with its attribution visualisation beside it, `per_row` pairs a
    row, tiles `thumb` px, 2 px of white between; returns the (3, H, W) quilt (also written to
    `path` as a PNG when given) and the visualisations. All render in one batched optimisation."""
    if stats.model != model.name:
        raise NeuronscopeError(f"the statistics are of {stats.model}, not {model.name}")
    unit = check_unit(stats, unit)
    examples = stats.top(unit)[:count]
    if not examples:
        raise NeuronscopeError(f"no examples stored for {stats.layer}:{unit}")
    images = torch.stack([load_pixels(stats, ex.image_id) for ex in examples])
    result = attribution_visualization(model, Neuron(stats.layer, unit), images, source_layer,
                                       [(ex.y, ex.x) for ex in examples], steps, size, seed, progress)
    crops = torch.stack([example_crop(stats, ex, img) for img, ex in zip(images, examples)])
    pairs = torch.stack([_thumbnail(crops, thumb), _thumbnail(result.images, thumb)], dim=1).flatten(0, 1)
    quilt = tile(pairs, ncols=2 * per_row, pad_value=1.0)
    if path is not None:
        save_grid(quilt[None], path, padding=0)
    return quilt, result
