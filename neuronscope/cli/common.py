"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.models.zoo import MODELS, load_model
from neuronscope.threads import set_threads


def add_model_args(parser, positional: bool = True) -> None:
    if positional:
        parser.add_argument("model", help=f"model name ({', '.join(MODELS)})")
    else:
        parser.add_argument("--model", default="efficientnet_lite0", help="model name (default efficientnet_lite0)")
    parser.add_argument("--weights", default=None, type=validate.existing_file,
                        help="weight file (default: the model's own)")
    parser.add_argument("--device", default=None, type=validate.device, help="torch device, e.g. cuda (default cpu)")
    parser.add_argument("--threads", type=validate.positive_int, default=None,
                        help="torch CPU threads (default: the cores not busy with other work)")


def model_from_args(args):
    set_threads(getattr(args, "threads", None))
    return load_model(args.model, weights=args.weights, device=args.device)
