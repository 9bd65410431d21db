"""`neuronscope report`: the main job, a self-contained report (DIR/index.html)."""

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.errors import NeuronscopeError

DESCRIPTION = (
    "Write the \"Curve Detectors\" / \"Curve Circuits\" report of one layer as a static page, DIR/index.html "
    "(no server, no network): dataset statistics, the curve family with its sparsity and echoes, feature "
    "visualisations, decomposed, distributions and quilts of every member, attribution, synthetic stimuli, joint "
    "tuning, families across layers, circuits, artificial curve detectors (and surgery, given --labels), "
    "labelling and the applications. Each stage "
    "is cached under DIR/stages/ (keyed on the model's weights, the layer, the images' content, the stage's "
    "settings and its code); a rerun reuses what has not changed. Progress goes to stderr, one line per step.")


def register(sub):
    p = sub.add_parser("report", help="write the curve-detector report of a layer (the main job)",
                       description=DESCRIPTION)
    add_model_args(p, positional=False)
    p.add_argument("--layer", default=None, help="layer to study (default: the model's curve layer)")
    p.add_argument("--images", default=None, type=validate.existing_path,
                   help="image folder or list file for the statistics (default: six views each of scikit-image's "
                        "bundled photographs; a real set of 1,000+ images is better)")
    p.add_argument("--labels", type=validate.existing_file, metavar="CSV",
                   help="labels of the --images folder (a 'file' column and --label-column): adds the surgery table "
                        "(family ablated / replaced by artificial units / random units ablated)")
    p.add_argument("--label-column", metavar="COL", help="the CSV column holding the model's output index")
    p.add_argument("--out", required=True, type=validate.out_dir, help="output folder; DIR/index.html opens from disk")
    p.add_argument("--fresh", action="store_true", help="recompute every stage instead of reusing cached ones")
    p.add_argument("--steps", type=validate.positive_int, default=128,
                   help="feature-visualisation steps (default 128, lr 0.05 cosine-annealed)")
    p.add_argument("--joint-examples", type=validate.positive_int, default=4,
                   help="top dataset examples per member rotated for joint tuning (default 4)")
    p.add_argument("--single-file", action="store_true",
                   help="inline every image and the style in index.html, to send the page as one file")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args):
    from neuronscope.report import build_report  # heavy (matplotlib, every analysis): only when used

    if (args.labels is None) != (args.label_column is None):
        raise NeuronscopeError("--labels and --label-column go together")
    model = model_from_args(args)
    page = build_report(model, layer=args.layer, images=args.images, out=args.out, fresh=args.fresh,
                        featvis_steps=args.steps, joint_examples=args.joint_examples, single_file=args.single_file,
                        progress=not args.quiet,
                        labels=(args.labels, args.label_column) if args.labels else None)
    print(f"report: {page}")
