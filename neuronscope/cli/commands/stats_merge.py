"""`neuronscope stats-merge DIR... --out DIR`: combine shards of one `stats` run into one result."""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.options import figure_units, summary_line
from neuronscope.dataset import merge_results


def register(subparsers) -> None:
    p = subparsers.add_parser("stats-merge", help="merge `stats --shard` results into one (exactly a single run's)",
                              description=__doc__)
    p.add_argument("dirs", nargs="+", type=validate.existing_dir, help="result folders of the shards")
    p.add_argument("--out", required=True, type=validate.out_dir, help="folder for the merged result")
    p.add_argument("--overwrite", action="store_true", help="replace the result already in --out")
    p.add_argument("--figures", type=figure_units, default="none",
                   help="distribution figures: all, none, or units like 3,17 (default none)")
    p.set_defaults(func=run)


def run(args) -> int:
    stats = merge_results(args.dirs, args.out, figures=args.figures, overwrite=args.overwrite)
    print(f"wrote {args.out}")
    print(summary_line(stats))
    return 0
