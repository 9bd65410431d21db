"""`neuronscope decompose MODEL NEURON --out DIR`: decomposed feature visualisations, one PNG per layer."""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.optvis.decompose import decompose


def register(subparsers):
    p = subparsers.add_parser("decompose", help="what a neuron looks for at each position of earlier layers",
                              description="Decomposed feature visualisation: for each earlier layer, the "
                                          "visualisation of the neuron's (linearised) gradient direction at "
                                          "each position of its receptive field, tiles faded by the gradient "
                                          "norm. Writes LAYER.png and LAYER.npz per layer.")
    add_model_args(p)
    p.add_argument("neuron", metavar="NEURON", help="neuron id, e.g. mixed3b:379 or block6_expand:10")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--layers", type=lambda s: [v for v in s.split(",") if v], metavar="L1,L2",
                   help="earlier layers (default: the two deepest main layers it sees 3x3 positions of)")
    p.add_argument("--steps", type=validate.positive_int, default=128, help="optimisation steps (default 128)")
    p.add_argument("--size", type=validate.tile_size, default=48, help="tile size in pixels (default 48)")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.add_argument("--input-size", type=validate.image_size, default=224,
                   help="input size the gradients are taken at (default 224)")
    p.add_argument("--min-norm", type=validate.probability, default=0.05,
                   help="render positions whose gradient norm is at least this fraction of the largest (default 0.05)")
    p.set_defaults(func=run)


def run(args):
    model = model_from_args(args)
    results = decompose(model, args.neuron, args.layers, steps=args.steps, size=args.size, seed=args.seed,
                        input_size=args.input_size, min_norm=args.min_norm, out_dir=args.out)
    for r in results:
        h, w = r.rendered.shape
        print(f"{r.layer}: {h}x{w} positions from {r.origin}, {int(r.rendered.sum())} rendered -> "
              f"{args.out / (r.layer + '.png')}")
