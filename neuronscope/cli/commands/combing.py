"""`neuronscope combing MODEL [LAYER...] --out DIR`: the combing index of curve and line units.

For every curve and line family found in the layers (default: the model's curve layer), the
response of each member to its preferred curve with short perpendicular strokes (inward, outward,
both) or parallel strokes, minus its response to the plain curve, in dataset SDs; and the same
preference read from the units' feature visualisations. Writes combing.json and combing.png.
"""

from __future__ import annotations

import numpy as np

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("combing", help="combing index of the curve and line units of layers",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("layers", nargs="*", metavar="LAYER", help="layers (default: the model's curve layer)")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--kinds", choices=["curve", "line", "curve,line"], default="curve,line",
                   help="families to measure (default curve,line)")
    p.add_argument("--featvis-steps", type=validate.nonnegative_int, default=256,
                   help="steps of the feature visualisations read for combing (default 256; 0 skips them)")
    p.set_defaults(func=run)


def run(args) -> int:
    from neuronscope.applications.combing import MODES, run_combing

    model = model_from_args(args)
    model.check_layers(args.layers)
    results, _ = run_combing(model, args.layers or None, tuple(args.kinds.split(",")),
                             featvis_steps=args.featvis_steps, out_dir=args.out)
    for r in results:
        idx = r.index
        means = " ".join(f"{m}={idx[:, j].mean():+.2f}" for j, m in enumerate(MODES))
        vis = (f" featvis_perpendicular_share={np.mean(list(r.visualization.values())):.3f}"
               if r.visualization else "")
        print(f"{r.layer} {r.kind} units={len(r.units)} mean_index_sd: {means}{vis}")
    if not results:
        print("no curve or line family in these layers")
        return 0
    print(f"wrote {args.out / 'combing.json'} and {args.out / 'combing.png'}")
    return 0
