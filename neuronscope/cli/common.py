"""Argument helpers shared by the sub-commands."""

from __future__ import annotations

import os

from neuronscope.cli import validate
from neuronscope.models.zoo import MODELS, load_model
from neuronscope.threads import set_threads


MODEL_HELP = (f"a built-in model ({', '.join(MODELS)}) or your own: FILE.py:FUNCTION or package.module:FUNCTION, "
              "a function returning a neuronscope.Model, an nn.Module or an (nn.Module, preprocess) pair")


def add_model_args(parser, positional: bool = True) -> None:
    """MODEL (or --model), --weights, --device and --threads; read them with `model_from_args`."""
    if positional:
        parser.add_argument("model", help=MODEL_HELP)
    else:
        parser.add_argument("--model", default="efficientnet_lite0", help=MODEL_HELP + " (default efficientnet_lite0)")
    parser.add_argument("--weights", default=None, type=validate.existing_file,
                        help="weight file (default: the model's own)")
    parser.add_argument("--device", default=None, type=validate.device, help="torch device, e.g. cuda (default cpu)")
    parser.add_argument("--sha256", type=validate.sha256, metavar="HEX",
                        help="SHA-256 the downloaded weights must have (default: the pinned one, if any; "
                             "or $NEURONSCOPE_<MODEL>_SHA256)")
    parser.add_argument("--threads", type=validate.positive_int, default=None,
                        help="torch CPU threads (default: the cores not busy with other work)")


def model_from_args(args):
    """The model named by the arguments (built-in or the user's own; see `load_model`)."""
    set_threads(getattr(args, "threads", None))
    if getattr(args, "sha256", None):  # read by models.weights.wanted_sha256 when the weights are downloaded
        os.environ[f"NEURONSCOPE_{args.model.upper()}_SHA256"] = args.sha256
    return load_model(args.model, weights=args.weights, device=args.device)
