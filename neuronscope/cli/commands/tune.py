"""`neuronscope tune MODEL NEURON... --out DIR`: tuning of neurons to synthetic stimuli.

Writes, per experiment, NAME.npz + NAME.json (data) and PNG figures into DIR: curves (the
orientation x radius heatmaps and the radial tuning, pre- and post-activation) by default;
--experiments adds lines, angles, morphs (angle to curve), fill (fill, polarity and colour),
tangent (lines along each unit's preferred curve) and joint (rotated top dataset examples).
Neurons at other layers or positions get a subfolder each. Responses are in dataset SDs.
"""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import add_units_args
from neuronscope.errors import NeuronscopeError
from neuronscope.experiments.tuning import EXPERIMENTS, tune


def register(subparsers) -> None:
    p = subparsers.add_parser("tune", help="measure neurons' tuning to curves, lines, angles (figures + data)",
                              description=__doc__.split("\n\n")[0])
    add_model_args(p)
    p.add_argument("neurons", nargs="+", metavar="NEURON", help="LAYER:UNIT or LAYER:UNIT@Y,X (default: central)")
    p.add_argument("--out", required=True, type=validate.out_dir, help="output folder")
    p.add_argument("--experiments", default="curves",
                   help=f"comma-separated, from {','.join(EXPERIMENTS)}, or all (default curves)")
    p.add_argument("--step", type=validate.float_range(0, 180, low_open=True), default=5.0,
                   help="orientation step in degrees (default 5)")
    p.add_argument("--radii", type=validate.int_range(2, 256), default=16,
                   help="radii from 1/16 of the field to the field (default 16)")
    p.add_argument("--svg", action="store_true", help="also write SVG figures")
    add_units_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """`experiments.tune`, each (layer, position) saved into DIR (or a subfolder each when several)."""
    results = tune(model_from_args(args), args.neurons, _experiments(args.experiments), stats=args.stats,
                   images=args.images, limit=args.limit, step=args.step, radii=args.radii)
    for result in results:
        folder = args.out if len(results) == 1 else args.out / _slug(result.layer, result.position)
        for path in result.save(folder, svg=args.svg):
            print(path)
    return 0


def _experiments(text: str) -> set[str]:
    chosen = set(EXPERIMENTS) if text == "all" else {t.strip() for t in text.split(",") if t.strip()}
    unknown = chosen - set(EXPERIMENTS)
    if unknown:
        raise NeuronscopeError(f"unknown experiment {sorted(unknown)[0]!r}; "
                               f"choose from {', '.join(EXPERIMENTS)} or all")
    return chosen


def _slug(layer: str, position) -> str:
    return f"{layer}_at{position[0]}_{position[1]}"
