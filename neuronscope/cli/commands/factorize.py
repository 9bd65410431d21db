"""`neuronscope factorize MODEL LAYER IMAGE... --k K --out DIR`: NMF of a layer's activations.

Factorises the layer's activations over all the images jointly into K channel directions
(neuron groups) and per-image spatial maps; writes factors.png (each factor a colour over every
image), one <image>_nmf.png per image, and with --save-groups the groups as JSON for `find`.
Prints the relative error and each group's top units; last line `k=K error=E`.
"""

from __future__ import annotations


from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import load_images
from neuronscope.figures import save_figure

MAX_FIGURE_ROWS = 12


def register(subparsers) -> None:
    p = subparsers.add_parser("factorize", help="NMF of a layer's activations: segmentations and neuron groups",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("layer", help="layer to factorise (after a ReLU; e.g. block13_expand)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("--k", type=validate.positive_int, default=6, help="number of factors (default 6)")
    p.add_argument("--out", type=validate.out_dir, required=True, metavar="DIR", help="output folder")
    p.add_argument("--save-groups", type=validate.out_file(".json"), metavar="FILE",
                   help="write the K channel directions (neuron groups) here, for `neuronscope find`")
    p.add_argument("--size", type=validate.image_size, default=224,
                   help="resize each image's short side to this (default 224)")
    p.add_argument("--seed", type=validate.seed, default=0, help="NMF initialisation seed (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from neuronscope.applications import factorize as FZ

    named = load_images(args.images, args.size)
    model = model_from_args(args)
    fact = FZ.factorize_images(model, [img for _, img in named], args.layer, args.k, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = named[:MAX_FIGURE_ROWS]
    fig = FZ.plot_factorization([img for _, img in rows], fact.maps[:len(rows)], [n for n, _ in rows], fact.groups,
                                title=f"NMF of {model.name} {fact.groups.layer}, k={fact.k}, "
                                      f"{len(named)} image(s) jointly")
    save_figure(fig, args.out / "factors.png")
    print(f"wrote {args.out / 'factors.png'}")
    for i, (name, img) in enumerate(named):
        FZ.save_overlay(img, fact.upsampled(i), args.out / f"{name}_nmf.png")
    print(f"wrote {len(named)} overlay(s) <image>_nmf.png to {args.out}")
    for name in fact.groups.names:
        top = " ".join(f"{u}:{w:.2f}" for u, w in fact.groups.top_units(name, 5))
        print(f"{name} top_units {top}")
    if args.save_groups:
        print(f"wrote {fact.groups.save(args.save_groups)}")
    print(f"k={fact.k} error={fact.error:.4f}")
    return 0
