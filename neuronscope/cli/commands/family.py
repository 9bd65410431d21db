"""`neuronscope family MODEL [LAYER] --json FILE`: find a layer's curve (or line) detector family.

Writes {"model", "layer", "kind", "members": [{"unit", "orientation_deg", "peak_z", "width_deg",
"echo"}], ...} to FILE and the family's radial tuning figure beside it (<stem>_radial.png),
and prints one line per member, then `members=N max_gap_deg=G`.
"""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import add_units_args
from neuronscope.errors import NeuronscopeError
from neuronscope.families import KINDS, find_family


def register(subparsers) -> None:
    p = subparsers.add_parser("family", help="find the curve (or line) detector family of a layer",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("layer", nargs="?", help="layer (default: the model's curve layer)")
    p.add_argument("--json", required=True, type=validate.out_file(".json"), help="output JSON file")
    p.add_argument("--kind", choices=KINDS, default="curve", help="curve (default) or line detectors")
    p.add_argument("--position", type=validate.position,
                   help="Y,X position in the layer's grid (default: the central one)")
    p.add_argument("--step", type=validate.float_range(0, 180, low_open=True), default=10.0,
                   help="orientation step in degrees (default 10)")
    p.add_argument("--min-peak", type=validate.finite_float, default=4.0,
                   help="minimum peak response in SDs (default 4)")
    add_units_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if args.step <= 0:
        raise NeuronscopeError("--step must be > 0")
    family = find_family(model_from_args(args), args.layer, args.kind, position=args.position,
                         stats=args.stats, images=args.images, limit=args.limit, step_deg=args.step,
                         min_peak=args.min_peak)
    for m in family.members:
        echo = "" if m.echo is None else f" echo={m.echo:.2f}"
        print(f"unit={m.unit} orientation_deg={m.orientation_deg:.1f} peak_z={m.peak_z:.2f} "
              f"width_deg={m.width_deg:.0f}{echo}")
    for path in family.save(args.json):
        print(f"wrote {path}")
    print(f"members={len(family.members)} max_gap_deg={family.gaps.max():.1f}")
    return 0

