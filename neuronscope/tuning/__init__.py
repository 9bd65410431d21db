"""Responses of neurons to synthetic stimuli, measured on their minimal exact input.

    probe = make_probe(model, "block6_expand")           # central position; 96x96 window, not 224x224
    scale = dataset_units(model, "block6_expand")        # dataset SDs (bundled photographs, all positions)
    curves = curve_tuning(probe, [10, 20], scale=scale)  # orientation x radius, radii relative to the field
    curves.z, curves.post; curves.save("out")            # out/curves.npz + out/curves.json
    figures.save(figures.plot_curve_heatmaps(curves), "out/heatmaps.png")

Also `line_tuning`, `angle_tuning`, `morph_tuning` (angle to curve), `fill_colour_tuning`,
`tangent_line_tuning` (lines along a curve) and `joint_tuning` (rotated dataset examples), each
with a `figures.plot_*`. `probe.evaluate(images, units, pre_relu)` reads any units at the
position from window-sized images (pre- or post-activation); `probe.measure(render, params)`
renders and evaluates in batches, which every experiment uses.
"""

from neuronscope.tuning import figures
from neuronscope.tuning.joint import joint_tuning
from neuronscope.tuning.probe import Probe, make_probe
from neuronscope.tuning.result import Tuning
from neuronscope.tuning.sweeps import (angle_tuning, curve_tuning, default_radii, fill_colour_tuning, grid,
                                       line_tuning, morph_tuning, tangent_line_tuning)
from neuronscope.tuning.units import Units, dataset_stats, dataset_units, units_of

__all__ = ["Probe", "Tuning", "Units", "angle_tuning", "curve_tuning", "dataset_stats", "dataset_units",
           "default_radii", "figures", "fill_colour_tuning", "grid", "joint_tuning", "line_tuning", "make_probe",
           "morph_tuning", "tangent_line_tuning", "units_of"]
