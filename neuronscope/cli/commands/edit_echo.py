"""`neuronscope edit-echo MODEL --from LAYER --to LAYER --out DIR`: remove the negative weights
from the source curve family to the target's and measure the echoes that appear."""

from __future__ import annotations

import numpy as np

from neuronscope.experiments.echo import echo_experiment
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import add_circuit_args, circuit_families
from neuronscope.errors import NeuronscopeError
from neuronscope.tuning import default_radii


def register(subparsers) -> None:
    p = subparsers.add_parser("edit-echo", help="remove negative curve-to-curve weights and measure echoes",
                              description=__doc__.split("\n\n")[0].replace("`", "") + " The model is edited in "
                                          "a copy; tuning before and after is measured with arcs.")
    add_model_args(p)
    add_circuit_args(p)
    p.add_argument("--sign", choices=["negative", "positive"], default="negative",
                   help="which weights to scale (default negative)")
    p.add_argument("--scale", type=validate.finite_float, default=0.0,
                   help="factor for those weights (default 0: remove)")
    p.add_argument("--step-deg", type=validate.float_range(0, 360, low_open=True), default=5.0,
                   help="orientation step of the arcs (default 5)")
    p.add_argument("--radii", type=validate.int_range(1, 256), default=16,
                   help="arc radii, log-spaced from 1/16 of the field to "
                        "the field (default 16)")
    p.set_defaults(func=run)


def run(args) -> int:
    model = model_from_args(args)
    source, target = circuit_families(model, args)
    if args.step_deg <= 0 or 360 % args.step_deg or args.radii < 1:
        raise NeuronscopeError("--step-deg must divide 360 and --radii must be >= 1")
    result = echo_experiment(model, args.source, args.target, source, target, sign=args.sign, scale=args.scale,
                             images=args.images, orientations=np.arange(0, 360, args.step_deg),
                             radii=default_radii(args.radii))
    for path in result.save(args.out):
        print(path)
    summary = result.summary()
    print(f"{'; '.join(summary['edit'])}")
    print(f"mean_echo_before={summary['mean_echo_before']} mean_echo_after={summary['mean_echo_after']} "
          f"units_with_echo_before={summary['units_with_echo_before']} "
          f"units_with_echo_after={summary['units_with_echo_after']} of {len(summary['target_units'])}")
    return 0
