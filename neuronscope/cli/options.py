"""Options and helpers that several commands share, so that no command imports another: dataset-SD
units, the two families of a circuit, options that set a settings dataclass's fields, the source
families and motif of artificial units, dataset result units and summaries, and image files."""

from __future__ import annotations

import argparse
from pathlib import Path

from neuronscope.aann import Motif
from neuronscope.circuits.expanded import unit_list
from neuronscope.cli import validate
from neuronscope.errors import NeuronscopeError
from neuronscope.families import Family, find_family
from neuronscope.families.family import TEXT_HELP
from neuronscope.images import list_images, load_image, resize_short

FAMILY_HELP = TEXT_HELP


def add_units_args(p) -> None:
    """Where the dataset SDs come from (`tune`, `family`)."""
    p.add_argument("--stats", type=validate.existing_dir,
                   help="a `neuronscope stats` result folder of the layer (pre-ReLU) for the SD units")
    p.add_argument("--images", type=validate.existing_path,
                   help="else compute them over these images (folder or list; default: the bundled "
                        "scikit-image photographs), every position of the layer")
    p.add_argument("--limit", type=validate.positive_int, help="use a seeded random subset of this many --images")


def add_circuit_args(p) -> None:
    """--from/--to/--out and the two families (`circuit`, `edit-echo`)."""
    found = " (default: found with find_family)"
    p.add_argument("--from", dest="source", required=True, metavar="LAYER", help="source layer")
    p.add_argument("--to", dest="target", required=True, metavar="LAYER", help="target layer")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--source-family", metavar="FAMILY", help=f"the source's curve family: {FAMILY_HELP}{found}")
    p.add_argument("--target-family", metavar="FAMILY", help=f"the target's curve family: {FAMILY_HELP}{found}")
    p.add_argument("--images", default=None, type=validate.existing_path,
                   help="images for dataset SDs when families are found (default: the bundled photographs)")


def circuit_families(model, args) -> tuple[Family, Family]:
    """The two families as given, else found (curve families, dataset SDs over --images); found ones are printed."""
    out = []
    for layer, given in ((args.source, args.source_family), (args.target, args.target_family)):
        if given is not None:
            family = Family.parse(given, layer)
            unit_list(model, layer, family.units)  # units the layer has
        else:
            family = find_family(model, layer, images=args.images).require("pass one explicitly")
            print(f"found {len(family)} curve units in {layer}: {', '.join(map(str, family.units))}")
        out.append(family)
    return out[0], out[1]


# -- options that set the fields of a settings dataclass (`aann`, `surgery`, `atlas`) ---------------------
def add_field_args(p, defaults, options: dict) -> None:
    """One option per entry of `options`, {flag: (type, help) or (type, help, field)}, whose default is that
    field of the dataclass instance `defaults` (the field is named after the flag unless given), so the
    default used and the one the help shows are the dataclass's own."""
    for flag, kind, text, field in _fields(options):
        value = getattr(defaults, field)
        p.add_argument(flag, type=kind, default=value, help=f"{text} (default {value})")


def field_values(args, options: dict) -> dict:
    """{field: value} of the options added by `add_field_args`, for the dataclass's constructor."""
    return {field: getattr(args, _dest(flag)) for flag, _, _, field in _fields(options)}


def _fields(options: dict):
    for flag, (kind, text, *field) in options.items():
        yield flag, kind, text, field[0] if field else _dest(flag)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


MOTIF_ARGS = {
    "--radius": (validate.positive_float, "ideal curve radius, source positions"),
    "--tolerance": (validate.float_range(0, 180, low_open=True), "angular tolerance of alignment, degrees",
                    "tolerance_deg"),
    "--width": (validate.positive_float, "distance from the curve that still counts as on it"),
    "--misaligned": (validate.finite_float, "inhibition of perpendicular/opposite units on the curve"),
    "--off-curve": (validate.finite_float, "inhibition of aligned units off the curve"),
}


def add_aann_args(p) -> None:
    """The source layer, its families and the motif's parameters (`aann`, `surgery`)."""
    p.add_argument("--from", dest="source", metavar="LAYER",
                   help="source layer whose families feed the artificial units (default: the model's)")
    for kind in ("line", "curve"):
        p.add_argument(f"--{kind}s", metavar="FAMILY",
                       help=f"the source's {kind} family, {FAMILY_HELP}, or none (default: found)")
    add_field_args(p, Motif(), MOTIF_ARGS)
    p.add_argument("--kernel-size", type=validate.positive_int, help="kernel side (default: the target's whole window)")


def aann_options(args) -> dict:
    """motif=, lines=, curves= for `experiments.aann_experiment` / `family_surgery`: a family as
    given ("none": an empty one), None to find it."""
    out = {"motif": Motif(kernel_size=args.kernel_size, **field_values(args, MOTIF_ARGS))}
    for kind in ("line", "curve"):
        text = getattr(args, f"{kind}s")
        out[f"{kind}s"] = None if not text else Family((), kind=kind) if text == "none" else Family.parse(
            text, args.source, kind=kind)
    return out


def print_sources(families: dict[str, Family], source: str) -> None:
    """One line per source family used."""
    for name, family in families.items():
        print(f"{name} of {source}: {len(family)} units {', '.join(map(str, family.units))}")


# -- dataset results (`stats`, `stats-merge`, `quilt`, `label`) ---------------------------------------
def summary_line(stats) -> str:
    m = stats.manifest
    return f"images={m['images']} skipped={len(m['skipped'])} positions={m['positions']} seconds={m['seconds']:.1f}"


def figure_units(text: str):
    """--figures type: "all", "none" or a list of unit numbers (checked against the layer later)."""
    if text in ("all", "none"):
        return text
    try:
        return validate.int_list(0)(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be all, none or unit numbers like 3,17; got {text!r}") from None


def parse_unit(stats, text: str) -> int:
    """A unit of the result's layer from "UNIT" or "LAYER:UNIT"."""
    layer, _, unit = text.rpartition(":")
    if layer and layer != stats.layer:
        raise NeuronscopeError(f"{stats.layer} is the layer of this result, not {layer}")
    if not unit.isdigit():
        raise NeuronscopeError(f"neuron must be a unit number or LAYER:UNIT, got {text!r}")
    return int(unit)


# -- image files (`factorize`, `find`) ------------------------------------------------------------------
def image_paths(items) -> list[Path]:
    """Image files from files and folders (folders: every image in them, sorted)."""
    out = []
    for item in items:
        path = Path(item)
        out.extend(list_images(path) if path.is_dir() else [path])
    if not out:
        raise NeuronscopeError("no images found")
    return out


def load_images(items, size: int | None) -> list[tuple[str, object]]:
    """(stem, (3, H, W) image) for every image, the short side resized to `size` (None: as is)."""
    return [(p.stem, load_image(p) if size is None else resize_short(load_image(p), size)) for p in image_paths(items)]
