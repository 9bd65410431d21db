"""`neuronscope find MODEL --groups FILE IMAGE... --out DIR [--trace]`: where saved neuron groups are.

Applies groups saved by `neuronscope factorize --save-groups` to new images (non-negative least
squares onto the fixed channel directions): writes <image>_find.png (every group a colour) and,
for --group G, <image>_G.png (that group's map) and <image>_G_attribution.png (the group's
attribution to the pixels, `group_attribution`); with --trace, also traces group G's outline as
splines (<image>_G_splines.json/.svg/_overlay.png; `trace_group`: the image's curves inside the
found group). One line per image with each group's share of the maps' total.
"""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.options import load_images
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.errors import NeuronscopeError


def register(subparsers) -> None:
    p = subparsers.add_parser("find", help="find saved neuron groups (from factorize) in new images",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("--groups", type=validate.existing_file, required=True, metavar="FILE",
                   help="groups JSON written by `neuronscope factorize --save-groups`")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("--out", type=validate.out_dir, required=True, metavar="DIR", help="output folder")
    p.add_argument("--group", help="the group to map on its own and to trace (index or name)")
    p.add_argument("--trace", action="store_true", help="trace the group's outline as splines (needs --group)")
    p.add_argument("--curves", type=validate.positive_int, default=6, help="splines to trace (default 6)")
    p.add_argument("--size", type=validate.image_size, default=224,
                   help="resize each image's short side to this (default 224)")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from neuronscope.applications import factorize as FZ
    from neuronscope.applications import trace as T
    from neuronscope.stimuli.tiling import save_grid

    if args.trace and args.group is None:
        raise NeuronscopeError("--trace needs --group (which group to trace)")
    groups = FZ.Groups.load(args.groups)
    group = None if args.group is None else groups.index(args.group)
    named = load_images(args.images, args.size)
    model = model_from_args(args)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, img in named:
        maps = FZ.find_groups(model, groups, img)
        up = FZ.upsample(maps, tuple(img.shape[-2:]))
        FZ.save_overlay(img, up, args.out / f"{name}_find.png")
        total = max(float(maps.sum()), 1e-12)
        print(name + " " + " ".join(f"{n}={float(m.sum()) / total:.2f}" for n, m in zip(groups.names, maps)))
        if group is None:
            continue
        one = np.zeros_like(up)
        one[group] = up[group]
        stem = f"{name}_{groups.names[group]}"
        FZ.save_overlay(img, one, args.out / f"{stem}.png", 0.9)
        attribution = FZ.group_attribution(model, groups, group, img, maps)
        save_grid(attribution.expand(1, 3, -1, -1), args.out / f"{stem}_attribution.png", padding=0)
        if args.trace:
            traced = T.trace_group(model, groups, group, img, args.curves, args.seed)
            T.save_tracing(traced.splines, img, args.out, stem=f"{stem}_splines", target=traced.target)
            print(f"{stem} splines={len(traced.splines)}")
    print(f"wrote {len(named)} image(s) to {args.out}")
    return 0
