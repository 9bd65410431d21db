"""`neuronscope predict MODEL IMAGE...`: top-5 classes of each image."""

import torch

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.images import sample_images, standard_view


def register(sub):
    p = sub.add_parser("predict", help="top-5 labels of images (default: scikit-image's sample images)")
    add_model_args(p)
    p.add_argument("images", nargs="*", type=validate.existing_file,
                   help="image files (default: scikit-image's bundled photographs)")
    p.set_defaults(func=run)


def run(args):
    model = model_from_args(args)
    named = [(path, path) for path in args.images] if args.images else sample_images()
    batch = torch.stack([standard_view(image) for _, image in named])
    with torch.no_grad():
        tops = model.top_classes(model(batch), k=5)
    for (name, _), top in zip(named, tops):
        print(f"{name}: " + ", ".join(f"{label} {p:.2f}" for label, p in top))
