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
from neuronscope.cli.options import add_field_args, field_values

SETTINGS_ARGS = {  # options setting the `Settings` field of the same name
    "--steps": (validate.positive_int, "feature-visualisation steps"),
    "--size": (validate.image_size, "feature-visualisation size"),
    "--diversity": (validate.nonnegative_int, "diverse visualisations per unit, 0 or >= 2"),
    "--examples": (validate.positive_int, "top dataset examples per unit"),
    "--image-size": (validate.image_size, "statistics: centre crop"),
    "--resize": (validate.image_size, "statistics: short side before the crop"),
    "--chunk": (validate.positive_int, "units per task"),
    "--shard-images": (validate.positive_int, "images per statistics task"),
    "--seed": (validate.seed, "seed of every random choice"),
}


def register(subparsers) -> None:
    p = subparsers.add_parser("atlas", help="a browsable static site of every unit of chosen layers (local Microscope)",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("--layers", required=True, help="comma-separated layer names, e.g. block4_expand,block6_expand")
    p.add_argument("--images", type=validate.existing_path,
                   help="image folder or list file (default: the bundled photographs)")
    p.add_argument("--limit", type=validate.positive_int, help="a seeded random subset of this many images")
    p.add_argument("--out", type=validate.out_dir, required=True, help="site folder")
    p.add_argument("--units", help="units of every layer: 0-31, 309,115 or all (default all)")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the tasks on Ray: a cluster's address, auto, or nothing for a local instance")
    p.add_argument("--work", type=validate.out_dir, help="folder of finished tasks and the log (default SITE.work)")
    add_field_args(p, Settings(), SETTINGS_ARGS)
    p.add_argument("--no-family", action="store_true", help="skip the family search and radial tuning")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    settings = Settings(limit=args.limit, family=not args.no_family, **field_values(args, SETTINGS_ARGS))
    layers = [v.strip() for v in args.layers.split(",") if v.strip()]
    result = build_atlas(model_from_args(args), layers, args.images, args.out, units=args.units, settings=settings,
                         ray=args.ray, work=args.work, progress=not args.no_progress)
    print(f"wrote {result.site}/index.html; {len(result.ran)} of {result.tasks} tasks ran "
          f"(log: {result.work}/build.log)")
    print(f"units={result.units} pages={result.pages} seconds={result.seconds:.1f}")
    return 0
