"""`neuronscope universality MODEL... --out DIR`: curve and line families across models, each beside
a random-weight control of its architecture (see `neuronscope.experiments.universality`)."""

from neuronscope.cli import validate
from neuronscope.cli.common import MODEL_HELP
from neuronscope.threads import set_threads


def register(sub):
    p = sub.add_parser("universality", help="curve/line families across models, with random-weight controls",
                       description=__doc__)
    p.add_argument("models", nargs="+", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--out", required=True, type=validate.out_dir, help="folder for universality.png/.md/.json")
    p.add_argument("--step", type=validate.float_range(1, 90), default=20.0,
                   help="orientation step of the sweeps in degrees (default 20, cheap)")
    p.add_argument("--strides", type=validate.int_list(1, 1024), default=[8, 16],
                   help="scan the layers at these strides (default 8,16)")
    p.add_argument("--match", default=None, help="only layers whose name contains this (e.g. _expand)")
    p.add_argument("--max-layers", type=validate.positive_int, default=None,
                   help="scan at most this many layers per model, evenly spaced in depth")
    p.add_argument("--limit", type=validate.positive_int, default=None,
                   help="photographs for the dataset SDs (default all of scikit-image's)")
    p.add_argument("--featvis-steps", type=validate.int_range(0, 100000), default=128,
                   help="feature visualisation steps for the best curve family (0: none; default 128)")
    p.add_argument("--seed", type=validate.int_range(0, validate.MAX_SEED), default=0,
                   help="seed of the random-weight controls and the visualisations")
    p.add_argument("--device", default=None, type=validate.device, help="torch device (default cpu)")
    p.add_argument("--threads", type=validate.positive_int, default=None, help="torch CPU threads")
    p.set_defaults(func=run)


def run(args):
    from neuronscope.experiments.universality import universality
    from neuronscope.models import load_model

    set_threads(args.threads)
    models = [load_model(name, device=args.device) for name in args.models]
    result = universality(models, strides=tuple(args.strides), match=args.match, max_layers=args.max_layers,
                          step_deg=args.step, limit=args.limit, seed=args.seed, featvis_steps=args.featvis_steps)
    for path in result.save(args.out):
        print(f"wrote {path}")
    print(result.table())
