"""`neuronscope models`: the built-in models."""

from neuronscope.models.zoo import MODELS


def register(sub):
    p = sub.add_parser("models", help="list the built-in models")
    p.set_defaults(func=run)


def run(args):
    for spec in MODELS.values():
        print(f"{spec.name:20s} default layer {spec.default_layer:14s} {spec.summary}")
