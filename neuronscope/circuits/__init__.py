"""Circuits: expanded weights between layers, views of them, equivariance, and circuit editing.

All weights are expanded weights, the linear approximation of the path between two layers
(ReLU = identity, max-pool = average-pool):

    kernels = expanded_weights(model, "mixed3a", "mixed3b")           # (480, 256, 5, 5)
    inputs = views.neuron_inputs(model, "mixed3b:379", "mixed3a")     # kernels into one neuron
    matrix = views.family_matrix(model, "mixed3a", early, "mixed3b", late)   # early, late: families.Family
    equivariance(matrix).correlation                                  # rotated-prototype prediction
    with edit(model, weights=[WeightEdit("mixed3a", "mixed3b", early.units, late.units, sign="negative")]) as edited:
        ...                                                            # an edited copy; `model` is untouched

`views` computes (neuron inputs, family matrices, family contributions, paths, downstream units),
`figures` draws them; families are `neuronscope.families.Family`; experiments built on these
live in `neuronscope.experiments`.
"""

from neuronscope.circuits import figures, views
from neuronscope.circuits.editing import Ablation, EditedModel, Replacement, WeightEdit, edit, find_direct_conv
from neuronscope.circuits.equivariance import Equivariance, equivariance, rotate_kernels
from neuronscope.circuits.expanded import Span, apply_kernels, expanded_weights, span

__all__ = ["Ablation", "EditedModel", "Equivariance", "Replacement", "Span", "WeightEdit", "apply_kernels", "edit",
           "equivariance", "expanded_weights", "figures", "find_direct_conv", "rotate_kernels", "span", "views"]
