"""`neuronscope aann MODEL --from LAYER --to LAYER --out DIR`: hand-built curve detectors,
compared with the natural ones (kernels, curve tuning, feature visualisations)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neuronscope.aann import Motif, artificial_model, build_layer
from neuronscope.aann.compare import compare_kernels, compare_tuning
from neuronscope.aann.figures import save_kernels, save_tuning
from neuronscope.aann.layer import source_layer
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.families import Family, find_family
from neuronscope.families.family import TEXT_HELP

FAMILY_HELP = TEXT_HELP


def add_family_args(p) -> None:
    """Source families, the motif's parameters: shared with `neuronscope surgery`."""
    p.add_argument("--from", dest="source", metavar="LAYER",
                   help="source layer whose families feed the artificial units (default: the model's)")
    p.add_argument("--lines", metavar="FAMILY", help=f"the source's line family, {FAMILY_HELP}, or none "
                                                     "(default: found)")
    p.add_argument("--curves", metavar="FAMILY", help=f"the source's curve family, {FAMILY_HELP}, or none "
                                                      "(default: found)")
    d = Motif()
    p.add_argument("--radius", type=validate.positive_float, default=d.radius,
                   help=f"ideal curve radius, source positions "
                        f"(default {d.radius})")
    p.add_argument("--tolerance", type=validate.float_range(0, 180, low_open=True), default=d.tolerance_deg,
                   help=f"angular tolerance of alignment, degrees (default {d.tolerance_deg})")
    p.add_argument("--width", type=validate.positive_float, default=d.width,
                   help=f"distance from the curve that still counts as on it (default {d.width})")
    p.add_argument("--misaligned", type=validate.finite_float, default=d.misaligned,
                   help=f"inhibition of perpendicular/opposite units on the curve (default {d.misaligned})")
    p.add_argument("--off-curve", type=validate.finite_float, default=d.off_curve,
                   help=f"inhibition of aligned units off the curve (default {d.off_curve})")
    p.add_argument("--kernel-size", type=validate.positive_int, help="kernel side (default: the target's whole window)")


def motif_from_args(args) -> Motif:
    return Motif(args.radius, args.tolerance, args.width, args.misaligned, args.off_curve, args.kernel_size)


def source_families(model, args, source: str) -> dict:
    """lines= / curves= for `build_layer`: as given ("none": no such family), else found and printed."""
    out = {}
    for kind in ("line", "curve"):
        text, key = getattr(args, f"{kind}s"), f"{kind}s"
        if text:
            out[key] = None if text == "none" else Family.parse(text, source, kind=kind)
        else:
            out[key] = find_family(model, source, kind)
            print(f"found {len(out[key])} {kind} units in {source}: {', '.join(map(str, out[key].units))}")
    return out


def register(subparsers):
    p = subparsers.add_parser("aann", help="build artificial curve detectors from a layer's families and compare",
                              description="Build a layer of hand-built curve detectors from the line and curve "
                                          "families of the source layer (the curve motif only, never the target's "
                                          "weights); compare them with the target's natural curve family: "
                                          "family-to-family kernels, radial tuning and heatmaps to synthetic "
                                          "curves, feature visualisations.")
    add_model_args(p)
    p.add_argument("--to", dest="target", metavar="LAYER", help="target layer (default: the model's curve layer)")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--family", metavar="FAMILY", help=f"the target's natural curve family, {FAMILY_HELP} "
                                                      "(default: found with find_family)")
    p.add_argument("--orientations", metavar="DEG,...", type=validate.float_list(),
                   help="orientations of the artificial units (default: those of the natural family)")
    add_family_args(p)
    p.add_argument("--featvis-steps", type=validate.nonnegative_int, default=256,
                   help="feature-visualisation steps (0: none)")
    p.add_argument("--seed", type=validate.seed, default=0, help="feature-visualisation seed")
    p.set_defaults(func=run)


def run(args):
    model = model_from_args(args)
    target = args.target or model.default_layer
    source = args.source or source_layer(model, target)
    model.check_layers([source, target])
    natural = (Family.parse(args.family, target, name="natural curves") if args.family
               else find_family(model, target, "curve")).require("give one with --family")
    orientations = args.orientations or list(natural.orientations)
    layer = build_layer(model, source, target, orientations, motif=motif_from_args(args),
                        **source_families(model, args, source))
    args.out.mkdir(parents=True, exist_ok=True)
    kernels = compare_kernels(model, layer, natural)
    tuning = compare_tuning(model, layer, natural)
    written = save_kernels(kernels, args.out) + save_tuning(tuning, args.out)
    summary = {"model": model.name, "source": source, "target": target, "orientations": layer.orientations,
               "motif": vars(layer.motif), "natural_family": dict(zip(map(str, natural.units), natural.orientations)),
               "sources": [vars(s) for s in layer.sources], "kernels": kernels.comparison.to_dict(),
               "radial_tuning": tuning.comparison.to_dict()}
    (args.out / "aann.json").write_text(json.dumps(summary, indent=1) + "\n")
    for c in (kernels.comparison, tuning.comparison):
        print(f"{c.what}: correlation with the orientation-matched natural unit {np.nanmean(c.matched):.2f} "
              f"(mean over {len(c.matched)} units; mismatched pairs {c.baseline:.2f})")
    if args.featvis_steps > 0:
        written += _featvis(model, layer, natural, args)
    print(f"wrote {args.out / 'aann.json'} and {len(written)} figures to {args.out}")


def _featvis(model, layer, natural, args) -> list[Path]:
    """featvis_natural.png and featvis_artificial.png, one image per unit in family order."""
    from neuronscope.optvis import visualize
    from neuronscope.stimuli import save_grid

    out = []
    for name, m, units in (("natural", model, natural.units),
                           ("artificial", artificial_model(model, layer), range(layer.out_channels))):
        images = visualize(m, [f"{layer.target}:{u}" for u in units], steps=args.featvis_steps, seed=args.seed)
        out.append(save_grid(images, args.out / f"featvis_{name}.png", ncols=len(images)))
    return out
