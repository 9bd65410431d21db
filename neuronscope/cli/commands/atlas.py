"""`neuronscope atlas MODEL --layers L1,L2 --out SITE`: a static site of every unit of some layers.

Per unit: feature visualisations (positive, negative, diverse), top dataset examples cropped at
the receptive field, the pre-ReLU histogram in SDs, the strongest input and output units by
expanded weights (links between the layers' pages), family membership and, for the model's
curve layer, radial tuning. Open SITE/index.html (file:// works; no server needed). Finished
tasks are kept in SITE.work/ (with build.log): a rerun does only what is missing or changed.
The last line printed is `units=N pages=P seconds=S`.
"""

from __future__ import annotations

from neuronscope.atlas import Settings, build_atlas
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args


def register(subparsers) -> None:
    p = subparsers.add_parser("atlas", help="a browsable static site of every unit of chosen layers (local Microscope)",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("--layers", required=True, help="comma-separated layer names, e.g. block4_expand,block6_expand")
    p.add_argument("--images", type=validate.existing_path,
                   help="image folder or list file (default: the bundled photographs)")
    p.add_argument("--out", type=validate.out_dir, required=True, help="site folder")
    p.add_argument("--units", help="units of every layer: 0-31, 309,115 or all (default all)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the tasks on Ray: a cluster's address, auto, or nothing for a local instance")
    p.add_argument("--work", type=validate.out_dir, help="folder of finished tasks and the log (default SITE.work)")
    d = Settings()
    p.add_argument("--steps", type=validate.positive_int, default=d.steps,
                   help=f"feature-visualisation steps (default {d.steps})")
    p.add_argument("--size", type=validate.image_size, default=d.size,
                   help=f"feature-visualisation size (default {d.size})")
    p.add_argument("--diversity", type=validate.nonnegative_int, default=d.diversity,
                   help=f"diverse visualisations per unit, 0 or >= 2 (default {d.diversity})")
    p.add_argument("--examples", type=validate.positive_int, default=d.examples,
                   help=f"top dataset examples per unit (default {d.examples})")
    p.add_argument("--limit", type=validate.positive_int, help="a seeded random subset of this many images")
    p.add_argument("--image-size", type=validate.image_size, default=d.image_size,
                   help=f"statistics: centre crop (default {d.image_size})")
    p.add_argument("--resize", type=validate.image_size, default=d.resize,
                   help=f"statistics: short side before the crop (default {d.resize})")
    p.add_argument("--chunk", type=validate.positive_int, default=d.chunk,
                   help=f"units per task (default {d.chunk})")
    p.add_argument("--shard-images", type=validate.positive_int, default=d.shard_images,
                   help=f"images per statistics task (default {d.shard_images})")
    p.add_argument("--seed", type=validate.seed, default=d.seed, help="seed of every random choice (default 0)")
    p.add_argument("--no-family", action="store_true", help="skip the family search and radial tuning")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    settings = Settings(steps=args.steps, size=args.size, diversity=args.diversity, seed=args.seed,
                        examples=args.examples, chunk=args.chunk, shard_images=args.shard_images, limit=args.limit,
                        resize=args.resize, image_size=args.image_size, family=not args.no_family)
    layers = [v.strip() for v in args.layers.split(",") if v.strip()]
    result = build_atlas(model_from_args(args), layers, args.images, args.out, units=args.units, settings=settings,
                         ray=args.ray, work=args.work, progress=not args.no_progress)
    print(f"wrote {result.site}/index.html; {len(result.ran)} of {result.tasks} tasks ran "
          f"(log: {result.work}/build.log)")
    print(f"units={result.units} pages={result.pages} seconds={result.seconds:.1f}")
    return 0
