"""`neuronscope surgery MODEL --layer LAYER --images DIR --labels CSV --label-column COL --out DIR`:
accuracy with the curve family ablated, replaced by artificial units, or random units ablated.
The last line of stdout is `unchanged_top5=… ablated_top5=… replaced_top5=… random_top5=…`.

Top-1/top-5 accuracy on a labelled image folder: unchanged; the curve family of LAYER ablated (each
unit set to its mean over the evaluation images and positions); the family replaced by artificial
curve units (rescaled to the natural units' mean and std); and as many random other units ablated,
per seed. Bootstrap 95% intervals over images."""

from __future__ import annotations

import json

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import FAMILY_HELP, aann_options, add_aann_args
from neuronscope.evaluate import read_labels
from neuronscope.experiments.aann import natural_family
from neuronscope.experiments.surgery import family_surgery
from neuronscope.families import Family


def register(subparsers):
    p = subparsers.add_parser("surgery", help="accuracy with a curve family ablated / replaced by artificial units",
                              description=__doc__.split("\n\n")[1])
    add_model_args(p)
    p.add_argument("--layer", help="the layer operated on (default: the model's curve layer)")
    p.add_argument("--images", required=True, type=validate.existing_dir, help="folder of images named in the CSV")
    p.add_argument("--labels", required=True, type=validate.existing_file,
                   help="CSV with a 'file' column and a label column")
    p.add_argument("--label-column", required=True, help="column holding the model's output index")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--family", metavar="FAMILY", help=f"the layer's curve family, {FAMILY_HELP} "
                                                      "(default: found with find_family)")
    p.add_argument("--no-replace", action="store_true", help="skip the artificial replacement")
    add_aann_args(p)
    p.add_argument("--seeds", default=[0, 1, 2, 3, 4], type=validate.int_list(0, validate.MAX_SEED),
                   help="seeds of the random-unit controls (default 0,1,2,3,4)")
    p.add_argument("--limit", type=validate.positive_int, help="use only the first N labelled images")
    p.add_argument("--batch-size", type=validate.batch_size, default=50, help="images per batch (default 50)")
    p.add_argument("--boot", type=validate.positive_int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=validate.seed, default=0, help="bootstrap seed")
    p.add_argument("--cache-mb", type=validate.nonnegative_float, default=4096,
                   help="memory for kept activations between the two passes (default 4096)")
    p.set_defaults(func=run)


def run(args):
    rows = read_labels(args.labels, args.label_column)[:args.limit]
    model = model_from_args(args)
    layer = args.layer or model.default_layer
    model.check_layers([layer])
    family = natural_family(model, layer, Family.parse(args.family, layer) if args.family else None)
    print(f"{layer} curve family: {len(family.units)} units "
          + ", ".join(f"{u} ({t:.0f}°)" for u, t in zip(family.units, family.orientations)))
    result = family_surgery(model, args.images, rows, layer, family=family, replace=not args.no_replace,
                            source=args.source, random_seeds=args.seeds, batch_size=args.batch_size,
                            n_boot=args.boot, seed=args.seed, cache_mb=args.cache_mb, **aann_options(args))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "surgery.json").write_text(json.dumps(result.summary(), indent=1) + "\n")
    table = result.table()
    (args.out / "table.md").write_text(table + "\n")
    print(table)
    print(f"wrote {args.out / 'surgery.json'} and {args.out / 'table.md'}")
    print(result.line())
