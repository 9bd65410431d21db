"""`neuronscope extract-bench MODEL --out DIR`: curve extraction against Canny on known curves.

Scores `extract_curves` on synthetic images with known curves (`applications.curves`), with the
ODS F-measure against the curves' centre lines (`applications.bench`), beside scikit-image's Canny
(best sigma and thresholds), a thinned gradient magnitude and the local contrast. Writes bench.json
and bench.md (and decomb.json with `--decomb`), prints the table and the maps' combing; the last
line is `extraction_f=... canny_f=... gradient_f=...`.
"""

from __future__ import annotations

import json
import sys

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args


def register(subparsers) -> None:
    from neuronscope.applications.bench import TOLERANCE
    from neuronscope.applications.extract import DEFAULT_METHOD, METHODS

    p = subparsers.add_parser("extract-bench", help="benchmark curve extraction against Canny on known curves",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--layer", help="layer of the curve units (default: the model's curve layer)")
    p.add_argument("--units", type=validate.int_list(0, unique=True), help="units (default: the curve family)")
    p.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD, help=f"attribution (default {DEFAULT_METHOD})")
    p.add_argument("--images", type=validate.int_range(2, 10_000), default=32, metavar="N",
                   help="synthetic images, half over textures, half over noise (default 32)")
    p.add_argument("--size", type=validate.int_range(64, 1024), default=160, help="image side in px (default 160)")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.add_argument("--tolerance", type=validate.float_range(0, 10, low_open=True), default=TOLERANCE,
                   help=f"matching tolerance in px (default {TOLERANCE:g})")
    p.add_argument("--decomb", metavar="SOURCE_LAYER", nargs="?", const="block4_expand",
                   help="also score the model with its curve units' positive weights from perpendicular line "
                        "units of SOURCE_LAYER (default block4_expand) removed (combing removal)")
    p.set_defaults(func=run)


def run(args) -> int:
    from neuronscope.applications.bench import benchmark
    from neuronscope.applications.combing import decomb_edits
    from neuronscope.applications.curves import curve_set
    from neuronscope.applications.extract import curve_units
    from neuronscope.circuits import edit

    model = model_from_args(args)
    args.out.mkdir(parents=True, exist_ok=True)

    def progress(done, total):
        if sys.stderr.isatty():
            sys.stderr.write(f"\rcurve maps {done}/{total}")
            if done == total:
                sys.stderr.write("\n")

    items = curve_set(args.images, args.size, args.seed)
    result = benchmark(model, items, layer=args.layer, units=args.units, method=args.method,
                       tolerance=args.tolerance, progress=progress)
    written = result.save(args.out)
    print(result.table())
    n = result.notes
    print(f"combing: extraction perpendicular={n['comb_perpendicular']:.3f} parallel={n['comb_parallel']:.3f}; "
          f"gradient magnitude perpendicular={n['gradient_comb_perpendicular']:.3f} "
          f"parallel={n['gradient_comb_parallel']:.3f}")
    if args.decomb:
        layer, units = curve_units(model, args.layer, args.units)
        edits = decomb_edits(model, layer, args.decomb)
        with edit(model, weights=edits) as edited:
            after = benchmark(edited, items, layer=layer, units=units, method=args.method, tolerance=args.tolerance,
                              progress=progress, baselines=False)
        a = after.scores
        (args.out / "decomb.json").write_text(json.dumps({"source": args.decomb, "edits": len(edits),
                                                          **after.to_dict()}, indent=1) + "\n")
        written.append(args.out / "decomb.json")
        print(f"decomb ({len(edits)} edits from {args.decomb}): extraction_f={a['all']['extraction'].f:.3f} "
              f"(texture {a['texture']['extraction'].f:.3f}, noise {a['noise']['extraction'].f:.3f}) "
              f"perpendicular={after.notes['comb_perpendicular']:.3f} parallel={after.notes['comb_parallel']:.3f}")
    print("wrote " + ", ".join(str(p) for p in written))
    print(result.summary())
    return 0
