"""`neuronscope tune MODEL NEURON... --out DIR`: tuning of neurons to synthetic stimuli.

Writes, per experiment, NAME.npz + NAME.json (data) and PNG figures into DIR: curves (the
orientation x radius heatmaps and the radial tuning, pre- and post-activation) by default;
--experiments adds lines, angles, morphs (angle to curve), fill (fill, polarity and colour),
tangent (lines along each unit's preferred curve) and joint (rotated top dataset examples).
Neurons at other layers or positions get a subfolder each. Responses are in dataset SDs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neuronscope import tuning
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.errors import NeuronscopeError
from neuronscope.neurons import parse_neuron
from neuronscope.tuning import figures, joint, sweeps
from neuronscope.tuning.units import dataset_stats, units_of

EXPERIMENTS = ("curves", "lines", "angles", "morphs", "fill", "tangent", "joint")


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


def add_units_args(p) -> None:
    """Where the dataset SDs come from (shared with `neuronscope family`)."""
    p.add_argument("--stats", type=validate.existing_dir,
                   help="a `neuronscope stats` result folder of the layer (pre-ReLU) for the SD units")
    p.add_argument("--images", type=validate.existing_path,
                   help="else compute them over these images (folder or list; default: the bundled "
                        "scikit-image photographs), every position of the layer")
    p.add_argument("--limit", type=validate.positive_int, help="use a seeded random subset of this many --images")


def run(args) -> int:
    chosen = _experiments(args.experiments)
    if args.step <= 0 or args.radii < 2:
        raise NeuronscopeError("--step must be > 0 and --radii >= 2")
    model = model_from_args(args)
    groups: dict[tuple, list[int]] = {}
    for text in args.neurons:
        n = parse_neuron(text, model)
        groups.setdefault((n.layer, n.position), []).append(n.unit)
    for (layer, position), units in groups.items():
        probe = tuning.make_probe(model, layer, position)
        folder = args.out if len(groups) == 1 else args.out / _slug(layer, probe.position)
        stats = dataset_stats(model, layer, args.stats, args.images, limit=args.limit)
        written = measure(probe, list(dict.fromkeys(units)), stats, chosen, folder, args)
        for path in written:
            print(path)
    return 0


def measure(probe, units, stats, chosen, folder: Path, args) -> list[Path]:
    scale = units_of(stats)
    out: list[Path] = []

    def save(fig, name):
        out.append(figures.save(fig, folder / f"{name}.png", svg=args.svg))

    curves = sweeps.curve_tuning(probe, units, scale=scale, orientations=np.arange(0, 360, args.step),
                                 radii=sweeps.default_radii(args.radii))
    out += curves.save(folder)
    save(figures.plot_curve_heatmaps(curves), "curves_heatmaps")
    save(figures.plot_radial(curves), "curves_radial")
    if "lines" in chosen:
        lines = sweeps.line_tuning(probe, units, scale=scale, orientations=np.arange(0, 180, args.step))
        out += lines.save(folder)
        save(figures.plot_radial(lines), "lines_radial")
    if "angles" in chosen:
        angles = sweeps.angle_tuning(probe, units, scale=scale, orientations=np.arange(0, 360, max(args.step, 10)))
        out += angles.save(folder)
        save(figures.plot_angles(angles), "angles")
    if "morphs" in chosen:
        morphs = sweeps.morph_tuning(probe, units, scale=scale, orientations=np.arange(0, 360, max(args.step, 10)))
        out += morphs.save(folder)
        save(figures.plot_morphs(morphs), "morphs")
    if "fill" in chosen:
        fill = sweeps.fill_colour_tuning(probe, units, scale=scale, orientations=np.arange(0, 360, max(args.step, 10)))
        out += fill.save(folder)
        save(figures.plot_fill_colour(fill), "fill_colour")
    preferred = preferred_curves(curves, probe.field_size)
    if "tangent" in chosen:
        for unit, (orientation, radius) in preferred.items():
            lines = sweeps.tangent_line_tuning(probe, [unit], scale=scale, orientation_deg=orientation, radius=radius)
            out += lines.save(folder, f"tangent_lines_{unit}")
            save(figures.plot_tangent_lines(lines, unit), f"tangent_lines_{unit}")
    if "joint" in chosen:
        result = joint.joint_tuning(probe, {u: o for u, (o, _) in preferred.items()}, stats)
        out += result.save(folder)
        save(figures.plot_joint(result), "joint")
    return out


def preferred_curves(curves, field_size: float) -> dict[int, tuple[float, float]]:
    """unit -> (orientation, radius as a fraction of the field) of its strongest curve."""
    z = np.nan_to_num(curves.z, nan=-np.inf)
    out = {}
    for u in curves.units:
        o, r = np.unravel_index(np.argmax(z[..., curves.column(u)]), z.shape[:2])
        out[u] = (float(curves.axes["orientation_deg"][o]), float(curves.axes["radius"][r] / field_size))
    return out


def _experiments(text: str) -> set[str]:
    chosen = set(EXPERIMENTS) if text == "all" else {t.strip() for t in text.split(",") if t.strip()}
    unknown = chosen - set(EXPERIMENTS)
    if unknown:
        raise NeuronscopeError(f"unknown experiment {sorted(unknown)[0]!r}; "
                               f"choose from {', '.join(EXPERIMENTS)} or all")
    return chosen


def _slug(layer: str, position) -> str:
    return f"{layer}_at{position[0]}_{position[1]}"
