"""`neuronscope trace MODEL IMAGE --out DIR [--curves K] [--occlude MASK]`: curves as splines.

Traces the image's curves with differentiable splines fitted to its curve map (attribution to
the layer's curve family, `extract_curves`); writes splines.json (control points, pixels, x
right, y down), splines.svg, splines_overlay.png and splines_target.png (the curve map). One line
per spline; last line `splines=N`.
"""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.errors import NeuronscopeError
from neuronscope.images import load_image, resize_short


def register(subparsers) -> None:
    p = subparsers.add_parser("trace", help="trace an image's curves as splines (JSON, SVG, overlay)",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("image", type=validate.existing_file, metavar="IMAGE", help="image file")
    p.add_argument("--out", type=validate.out_dir, required=True, metavar="DIR", help="output folder")
    p.add_argument("--curves", type=validate.positive_int, default=4, help="at most this many splines (default 4)")
    p.add_argument("--occlude", type=validate.existing_file, metavar="MASK",
                   help="image of the regions splines must not cross (light = occluder), same size as IMAGE")
    p.add_argument("--occlude-units", type=validate.int_list(0, unique=True), metavar="U,U",
                   help="units of the layer whose curve map marks regions splines must not cross")
    p.add_argument("--layer", help="curve layer (default: the model's)")
    p.add_argument("--units", type=validate.int_list(0, unique=True), metavar="U,U",
                   help="curve units (default: the layer's curve family)")
    p.add_argument("--size", type=validate.image_size, help="resize the short side to this first (default: as is)")
    p.add_argument("--points", type=validate.int_range(2, 64), default=6, help="control points per spline (default 6)")
    p.add_argument("--steps", type=validate.nonnegative_int, default=150, help="optimisation steps (default 150)")
    p.add_argument("--restarts", type=validate.positive_int, default=1, help="runs from jittered starts; the best "
                                                                             "is kept (default 1)")
    p.add_argument("--seed", type=validate.seed, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from neuronscope.applications import trace as T
    from neuronscope.applications.extract import extract_curves

    image = load_image(args.image)
    if args.size:
        image = resize_short(image, args.size)
    occluder = None
    if args.occlude:
        mask = load_image(args.occlude)
        if args.size:
            mask = resize_short(mask, args.size)
        if mask.shape != image.shape:
            raise NeuronscopeError(f"--occlude is {mask.shape[-2]} x {mask.shape[-1]}; the image is "
                                   f"{image.shape[-2]} x {image.shape[-1]}")
        occluder = (mask.mean(0) > 0.5).float()
    model = model_from_args(args)
    target = extract_curves(model, image, args.layer, args.units)
    splines = T.trace_curves(model, image, args.curves, args.seed, layer=args.layer, units=args.units,
                             occlude=occluder, occlude_units=args.occlude_units, target=target,
                             n_points=args.points, steps=args.steps, restarts=args.restarts)
    for i, s in enumerate(splines):
        print(f"spline={i} length={s.length:.1f} width={s.width:.2f} score={s.score:.3f} "
              f"from={s.control_points[0, 0]:.1f},{s.control_points[0, 1]:.1f} "
              f"to={s.control_points[-1, 0]:.1f},{s.control_points[-1, 1]:.1f}")
    for path in T.save_tracing(splines, image, args.out, target=target):
        print(f"wrote {path}")
    print(f"splines={len(splines)}")
    return 0
