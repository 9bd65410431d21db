"""`neuronscope stats MODEL LAYER --out DIR`: per-unit statistics of a layer over a dataset.

The last line printed is `images=N skipped=K positions=P seconds=S` (P: values per unit).
"""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import figure_units, summary_line
from neuronscope.dataset import compute_stats


def register(subparsers) -> None:
    p = subparsers.add_parser("stats", help="streaming per-unit activation statistics and examples over a dataset",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("layer", help="layer name")
    p.add_argument("--images", type=validate.existing_path,
                   help="image folder (recursive) or list file (.csv with a path/file column, or one "
                        "path per line); default: the bundled sample images")
    p.add_argument("--out", required=True, type=validate.out_dir,
                   help="result folder (stats.npz, manifest.json, summary.csv, figures/)")
    p.add_argument("--crop", action="store_true",
                   help="one value per image: the receptive-field crop of --position instead of every position")
    p.add_argument("--position", type=validate.position, help="Y,X position for --crop (default: the central position)")
    p.add_argument("--post-relu", action="store_true", help="record values after the layer's ReLU (default: before)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run checkpointed in --out (or, when it is finished, only draw --figures)")
    p.add_argument("--overwrite", action="store_true", help="replace the result already in --out")
    p.add_argument("--shard", help="compute part i of n (1-based, e.g. 2/8); combine with stats-merge")
    p.add_argument("--limit", type=validate.positive_int, help="use a random subset of this many images (seeded)")
    p.add_argument("--seed", type=validate.seed, default=0, help="seed for --limit and the example sample (default 0)")
    p.add_argument("--batch-size", type=validate.batch_size, default=32, help="images per chunk (default 32)")
    p.add_argument("--workers", type=validate.int_range(0, 64),
                   help="decoding processes (default: 0 on the CPU, cores - 1 up to 8 with CUDA)")
    p.add_argument("--resize", type=validate.image_size, default=256,
                   help="resize the short side to this (default 256)")
    p.add_argument("--size", type=validate.image_size, default=224,
                   help="then centre-crop to this square (default 224)")
    p.add_argument("--strata", type=validate.int_range(1, 1024), default=16,
                   help="activation ranges the example sample is stratified by (divides 1024; default 16)")
    p.add_argument("--per-stratum", type=validate.int_range(1, 4096), default=16,
                   help="examples sampled per stratum (default 16)")
    p.add_argument("--figures", type=figure_units, default="none",
                   help="distribution figures to draw into --out/figures: all, none, or units like 3,17 (default none)")
    p.add_argument("--checkpoint-every", type=validate.nonnegative_float, default=60.0,
                   help="seconds between checkpoints (default 60)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    stats = compute_stats(
        model_from_args(args), args.layer, args.images, args.out, crop=args.crop, position=args.position,
        pre_relu=not args.post_relu, batch_size=args.batch_size, workers=args.workers, resume=args.resume,
        overwrite=args.overwrite, shard=args.shard, seed=args.seed, limit=args.limit, resize=args.resize,
        size=args.size, strata=args.strata, per_stratum=args.per_stratum, figures=args.figures,
        checkpoint_every=args.checkpoint_every, progress=not args.no_progress,
    )
    print(f"wrote {args.out}")
    print(summary_line(stats))
    return 0
