"""Synthetic stimuli: batched, antialiased, deterministic renders of curves, angles,
angle-to-curve morphs and lines as (N, 3, H, W) float images in [0, 1], in pure torch.

Orientation is the outward normal at the shape's midpoint, in degrees counter-clockwise
from +x with y up ("∩" = 90); see ``neuronscope.stimuli.shapes`` for the conventions.
An orientation x radius sweep::

    theta, radius = sweep(torch.arange(0, 360, 15), [16, 32, 64, float("inf")])
    images = curves(theta, radius, size=224)          # radius varies fastest
    save_grid(images, "curves.png", ncols=4)
"""

from neuronscope.stimuli.colors import composite, hues, random_color_pairs, to_colors
from neuronscope.stimuli.params import sweep
from neuronscope.stimuli.shapes import angle_arc, angle_to_curve, angles, curves, lines
from neuronscope.stimuli.tiling import save_grid, tile

__all__ = [
    "angle_arc", "angle_to_curve", "angles", "composite", "curves", "hues", "lines",
    "random_color_pairs", "save_grid", "sweep", "tile", "to_colors",
]
