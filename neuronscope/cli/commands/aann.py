"""`neuronscope aann MODEL --from LAYER --to LAYER --out DIR`: hand-built curve detectors,
compared with the natural ones (kernels, curve tuning, feature visualisations).

Build a layer of hand-built curve detectors from the line and curve families of the source layer
(the curve motif only, never the target's weights); compare them with the target's natural curve
family: family-to-family kernels, radial tuning and heatmaps to synthetic curves, feature
visualisations."""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import FAMILY_HELP, aann_options, add_aann_args, print_sources
from neuronscope.experiments.aann import aann_experiment
from neuronscope.families import Family


def register(subparsers):
    p = subparsers.add_parser("aann", help="build artificial curve detectors from a layer's families and compare",
                              description=__doc__.split("\n\n")[1])
    add_model_args(p)
    p.add_argument("--to", dest="target", metavar="LAYER", help="target layer (default: the model's curve layer)")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--family", metavar="FAMILY", help=f"the target's natural curve family, {FAMILY_HELP} "
                                                      "(default: found with find_family)")
    p.add_argument("--orientations", metavar="DEG,...", type=validate.float_list(),
                   help="orientations of the artificial units (default: those of the natural family)")
    add_aann_args(p)
    p.add_argument("--featvis-steps", type=validate.nonnegative_int, default=256,
                   help="feature-visualisation steps (0: none)")
    p.add_argument("--seed", type=validate.seed, default=0, help="feature-visualisation seed")
    p.set_defaults(func=run)


def run(args):
    model = model_from_args(args)
    natural = Family.parse(args.family, args.target, name="natural curves") if args.family else None
    result = aann_experiment(model, args.target, args.source, natural=natural, orientations=args.orientations,
                             featvis_steps=args.featvis_steps, seed=args.seed, **aann_options(args))
    print_sources(result.sources, result.layer.source)
    written = result.save(args.out)
    print("\n".join(result.lines()))
    print(f"wrote {written[0]} and {len(written) - 1} figures to {args.out}")
