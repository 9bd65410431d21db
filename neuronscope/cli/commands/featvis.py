"""`neuronscope featvis MODEL NEURON... --out DIR`: feature visualisations as PNGs."""

from __future__ import annotations

import neuronscope as ns
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.optvis import visualize
from neuronscope.optvis.param import PARAMS
from neuronscope.optvis.render import SCHEDULES
from neuronscope.stimuli.tiling import save_grid


def register(subparsers):
    p = subparsers.add_parser("featvis", help="render images that most excite (or inhibit) neurons",
                              description="Render feature visualisations of neurons, all in one batched "
                                          "optimisation; writes grid.png and one PNG per neuron.")
    add_model_args(p)
    p.add_argument("neurons", nargs="+", metavar="NEURON", help="neuron id, e.g. mixed3b:379 or block6_expand:10@3,3")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--steps", type=validate.positive_int, default=128, help="optimisation steps (default 128)")
    p.add_argument("--size", type=validate.image_size, default=128, help="image size in pixels (default 128)")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.add_argument("--lr", type=validate.positive_float, default=0.05, help="Adam learning rate (default 0.05)")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                   help="learning rate over the run: cosine-annealed to lr/10 (default) or constant")
    p.add_argument("--fixed-size", type=validate.image_size, default=None, metavar="PX",
                   help="resize every transformed image to this size before the model (fixed-input models, e.g. ViT)")
    p.add_argument("--negative", action="store_true", help="render the most inhibiting images instead")
    p.add_argument("--diversity", type=validate.int_range(0, 64), default=0, metavar="N",
                   help="render N different images per neuron")
    p.add_argument("--post-relu", action="store_true",
                   help="maximise the value after the layer's ReLU (default: the pre-activation value)")
    p.add_argument("--param", choices=sorted(PARAMS), default="fourier", help="image parameterisation")
    p.add_argument("--save-every", type=validate.positive_int, metavar="K",
                   help="also write step_NNNNN.png every K steps")
    p.set_defaults(func=run)


def run(args):
    model = model_from_args(args)
    neurons = [ns.parse_neuron(text, model, input_size=args.fixed_size or args.size) for text in args.neurons]
    images = visualize(model, neurons, steps=args.steps, size=args.size, seed=args.seed, lr=args.lr,
                       schedule=args.schedule, fixed_size=args.fixed_size,
                       param=args.param, pre_relu=not args.post_relu, negative=args.negative,
                       diversity=args.diversity, save_every=args.save_every, out_dir=args.out)
    k = max(1, args.diversity)
    for j, n in enumerate(neurons):  # the neuron's image as is, or its k images in a row
        save_grid(images[j * k:(j + 1) * k], args.out / f"{n.slug}.png", ncols=k, padding=0 if k == 1 else 2)
    print(f"wrote {args.out / 'grid.png'} and {len(neurons)} neuron image(s) to {args.out}")
