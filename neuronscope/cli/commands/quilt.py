"""`neuronscope quilt RESULTDIR NEURON --out FILE`: receptive-field crops of a unit's dataset
examples, one row per activation range (from a `stats` result); `--attribution` adds, under each
crop, its attribution to the previous layer by position and the top source units."""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.options import parse_unit
from neuronscope.dataset import load_stats, plot_quilt
from neuronscope.models import load_model

# File types matplotlib writes a figure as.
FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".eps", ".ps")


def register(subparsers) -> None:
    p = subparsers.add_parser("quilt", help="dataset examples of a unit in rows by activation range",
                              description=__doc__)
    p.add_argument("result", type=validate.existing_dir, help="result folder of `neuronscope stats`")
    p.add_argument("neuron", help="unit number, or LAYER:UNIT")
    p.add_argument("--out", required=True, type=validate.out_file(*FIGURE_SUFFIXES),
                   help="image file to write (.png, .pdf, ...)")
    p.add_argument("--per-row", type=validate.int_range(1, 64), default=8, help="crops per row (default 8)")
    p.add_argument("--thumb", type=validate.tile_size, default=64, help="side of each crop in px (default 64)")
    p.add_argument("--attribution", action="store_true",
                   help="under each crop, its attribution to --source by position, and the top source units")
    p.add_argument("--source", help="source layer of --attribution (default: the previous layer)")
    p.add_argument("--images", type=validate.existing_dir, metavar="DIR",
                   help="the folder the result's images are in now, if they moved since the stats run")
    p.add_argument("--weights", type=validate.existing_file,
                   help="weight file of the result's model (default: the model's own)")
    p.add_argument("--device", type=validate.device, help="torch device for --attribution, e.g. cuda (default cpu)")
    p.set_defaults(func=run)


def run(args) -> int:
    stats = load_stats(args.result, args.images)
    unit = parse_unit(stats, args.neuron)
    model = load_model(stats.model, weights=args.weights, device=args.device) if args.attribution else None
    plot_quilt(stats, unit, args.out, per_row=args.per_row, thumb=args.thumb, attribution=args.attribution,
               model=model, source=args.source)
    print(f"wrote {args.out}")
    return 0
