"""`neuronscope eval MODEL --images DIR --labels CSV --label-column COL`: top-1/top-5 accuracy."""

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.evaluate import accuracy, read_labels


def register(sub):
    p = sub.add_parser("eval", help="top-1/top-5 accuracy on a labelled folder (short side 256, centre crop 224)")
    add_model_args(p)
    p.add_argument("--images", required=True, type=validate.existing_dir, help="folder of images named in the CSV")
    p.add_argument("--labels", required=True, type=validate.existing_file,
                   help="CSV with a 'file' column and a label column")
    p.add_argument("--label-column", required=True, help="column holding the model's output index")
    p.add_argument("--batch-size", type=validate.batch_size, default=50, help="images per batch (default 50)")
    p.set_defaults(func=run)


def run(args):
    rows = read_labels(args.labels, args.label_column)
    model = model_from_args(args)
    print(accuracy(model, args.images, rows, args.batch_size).line())
