"""Neuron surgery: what a family of units contributes to classification.

    from neuronscope.surgery import run_surgery
    result = run_surgery(model, "block6_expand", family_units, "images/", rows,
                         artificial=layer)              # an aann.ArtificialCurves on that layer
    print(result.table()); print(result.line())

Conditions: unchanged; the family ablated (each unit set to its mean pre-activation over the
evaluation images and positions); the family replaced by artificial units (rescaled to the
natural units' mean and std); and, per seed, as many random other units of the layer ablated.
Accuracies carry seeded paired-bootstrap intervals over the images.
"""

from neuronscope.surgery.bootstrap import mean_interval, percentile_interval, recovered_fraction, resample_indices
from neuronscope.surgery.run import ABLATION, REPLACEMENT, Condition, SurgeryResult, conditions_for, run_surgery
from neuronscope.surgery.tail import SplitForward

__all__ = ["ABLATION", "REPLACEMENT", "Condition", "SplitForward", "SurgeryResult", "conditions_for",
           "mean_interval", "percentile_interval", "recovered_fraction", "resample_indices", "run_surgery"]
