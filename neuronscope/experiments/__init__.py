"""Experiments: the analyses the commands run, as Python calls a notebook can make, each returning
a result that summarises itself (`summary()`), saves its data and figures (`save(folder)`) and
displays itself in a notebook. The primitives they combine live in `tuning`, `families`,
`circuits`, `aann` and `surgery`; commands only parse arguments, call one of these and print.

    tune(model, ["block6_expand:36"], experiments=("curves", "lines"))      # `neuronscope tune`
    circuit_experiment(model, "block5", "block6_expand", early, late)       # `neuronscope circuit`
    echo_experiment(model, "block5", "block6_expand", early, late)          # `neuronscope edit-echo`
    aann_experiment(model, "block6_expand")                                 # `neuronscope aann`
    family_surgery(model, "images/", rows)                                  # `neuronscope surgery`
    universality(["efficientnet_lite0", "efficientnet_lite1"])               # `neuronscope universality`
"""

from neuronscope.experiments.aann import AannResult, aann_experiment, natural_family, source_families
from neuronscope.experiments.circuit import CircuitResult, circuit_experiment, sectors
from neuronscope.experiments.echo import EchoResult, echo_experiment, plot_echo
from neuronscope.experiments.surgery import family_surgery
from neuronscope.experiments.universality import UniversalityResult, universality
from neuronscope.experiments.tuning import EXPERIMENTS, TuningExperiments, preferred_curves, tune, tune_units

__all__ = ["EXPERIMENTS", "AannResult", "CircuitResult", "EchoResult", "TuningExperiments", "aann_experiment",
           "circuit_experiment", "echo_experiment", "family_surgery", "natural_family", "plot_echo",
           "preferred_curves", "sectors", "source_families", "tune", "tune_units", "UniversalityResult",
           "universality"]
