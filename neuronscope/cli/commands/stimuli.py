"""`neuronscope stimuli KIND --out DIR`: render a sweep of synthetic stimuli to DIR/<KIND>.png.

Grid layout: curves have one row per radius, angles one per opening and lines one per
offset, with one column per orientation; morphs have one row per (opening, orientation)
and one column per roundness.
"""

from __future__ import annotations

import torch

from neuronscope import stimuli
from neuronscope.cli import validate
from neuronscope.errors import NeuronscopeError

# Options that only some kinds use, with their defaults for those kinds.
_SPECIFIC = {
    "curves": {"radii": "16,32,64,inf", "arc_length": None, "filled": False},
    "angles": {"openings": "45,90,135", "arm_length": None},
    "morphs": {"openings": "90", "arm_length": None, "roundness": "0,0.25,0.5,0.75,1"},
    "lines": {"offsets": "0", "length": None},
}
_ALL_SPECIFIC = {name for options in _SPECIFIC.values() for name in options}


def register(subparsers) -> None:
    p = subparsers.add_parser("stimuli", help="render a grid of synthetic curves, angles, morphs or lines",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("kind", choices=sorted(_SPECIFIC), help="which stimuli to draw")
    p.add_argument("--out", required=True, type=validate.out_dir, help="folder for <kind>.png")
    p.add_argument("--size", type=validate.int_range(8, validate.MAX_IMAGE_SIZE, "an image side in pixels"),
                   default=224, help="image side in px (default 224)")
    p.add_argument("--orientations", type=validate.int_range(1, 720), default=16,
                   help="number of evenly spaced orientations over 360 degrees (180 for lines; default 16)")
    p.add_argument("--stroke-width", type=validate.positive_float, default=3.0, help="stroke width in px (default 3)")
    p.add_argument("--foreground", default="black", help="ink colour: a name, #rrggbb or r,g,b in [0, 1]")
    p.add_argument("--background", default="white", help="background colour, as --foreground")
    p.add_argument("--radii", type=validate.float_list(0, None, low_open=True, allow_inf=True),
                   help="curves: comma-separated radii in px, inf for straight (default 16,32,64,inf)")
    p.add_argument("--arc-length", type=validate.positive_float,
                   help="curves: arc length in px (default half the image side)")
    p.add_argument("--filled", action="store_true", default=None, help="curves: fill the inner circular segment")
    p.add_argument("--openings", type=validate.float_list(0, 180, low_open=True),
                   help="angles, morphs: comma-separated opening angles in degrees")
    p.add_argument("--arm-length", type=validate.positive_float,
                   help="angles, morphs: arm length in px (default a quarter of the side)")
    p.add_argument("--roundness", type=validate.float_list(0, 1),
                   help="morphs: comma-separated roundness values in [0, 1]")
    p.add_argument("--offsets", type=validate.float_list(),
                   help="lines: comma-separated offsets along the normal in px (default 0)")
    p.add_argument("--length", type=validate.positive_float,
                   help="lines: segment length in px (default: across the image)")
    p.set_defaults(func=run)


def _floats(option: str, text: str) -> list[float]:
    try:
        values = [float(item) for item in text.split(",")]
    except ValueError:
        raise NeuronscopeError(f"--{option.replace('_', '-')} must be comma-separated numbers, got {text!r}") from None
    return values


def _color(text: str) -> str | tuple[float, ...]:
    return tuple(_floats("foreground/--background", text)) if "," in text else text


def _options(args) -> dict:
    """Kind-specific options with defaults filled in; options of other kinds are errors."""
    own = _SPECIFIC[args.kind]
    for name in sorted(_ALL_SPECIFIC - own.keys()):
        if getattr(args, name) is not None:
            raise NeuronscopeError(f"--{name.replace('_', '-')} does not apply to {args.kind}")
    opts = {name: default if getattr(args, name) is None else getattr(args, name) for name, default in own.items()}
    return {name: _floats(name, v) if isinstance(v, str) else v for name, v in opts.items()}


def run(args) -> int:
    if args.orientations < 1:
        raise NeuronscopeError("--orientations must be >= 1")
    opts = _options(args)
    turn = 180.0 if args.kind == "lines" else 360.0
    theta = torch.arange(args.orientations, dtype=torch.float64) * (turn / args.orientations)
    style = dict(size=args.size, stroke_width=args.stroke_width, foreground=_color(args.foreground),
                 background=_color(args.background))
    ncols = args.orientations
    if args.kind == "curves":
        radius, t = stimuli.sweep(opts["radii"], theta)
        images = stimuli.curves(t, radius, arc_length=opts["arc_length"], filled=opts["filled"], **style)
    elif args.kind == "angles":
        opening, t = stimuli.sweep(opts["openings"], theta)
        images = stimuli.angles(t, opening, arm_length=opts["arm_length"], **style)
    elif args.kind == "morphs":
        opening, t, rho = stimuli.sweep(opts["openings"], theta, opts["roundness"])
        images = stimuli.angle_to_curve(t, rho, opening_deg=opening, arm_length=opts["arm_length"], **style)
        ncols = len(opts["roundness"])
    else:
        offset, t = stimuli.sweep(opts["offsets"], theta)
        images = stimuli.lines(t, offset, length=opts["length"], **style)
    path = stimuli.save_grid(images, args.out / f"{args.kind}.png", ncols=ncols)
    print(path)
    return 0
