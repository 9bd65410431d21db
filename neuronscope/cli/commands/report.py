"""`neuronscope report`: a self-contained curve-detector report (DIR/index.html)."""

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args


def register(sub):
    p = sub.add_parser("report", help="write a self-contained curve-detector report (the main job)")
    add_model_args(p, positional=False)
    p.add_argument("--layer", default=None, help="layer to study (default: the model's curve layer)")
    p.add_argument("--images", default=None, type=validate.existing_path,
                   help="image folder (default: scikit-image's bundled photographs)")
    p.add_argument("--out", required=True, type=validate.out_dir, help="output folder; DIR/index.html opens from disk")
    p.add_argument("--fresh", action="store_true", help="recompute every stage instead of reusing cached ones")
    p.add_argument("--steps", type=validate.positive_int, default=512, help="feature-visualisation steps (default 512)")
    p.set_defaults(func=run)


def run(args):
    from neuronscope.report import build_report  # heavy (matplotlib, every analysis): only when used

    model = model_from_args(args)
    page = build_report(model, layer=args.layer, images=args.images, out=args.out, fresh=args.fresh,
                        featvis_steps=args.steps)
    print(f"report: {page}")
