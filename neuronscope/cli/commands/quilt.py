"""`neuronscope quilt RESULTDIR NEURON --out FILE`: receptive-field crops of a unit's dataset
examples, one row per activation range (from a `stats` result)."""

from __future__ import annotations

from neuronscope.dataset import load_stats, plot_quilt
from neuronscope.errors import NeuronscopeError


def register(subparsers) -> None:
    p = subparsers.add_parser("quilt", help="dataset examples of a unit in rows by activation range",
                              description=__doc__)
    p.add_argument("result", help="result folder of `neuronscope stats`")
    p.add_argument("neuron", help="unit number, or LAYER:UNIT")
    p.add_argument("--out", required=True, help="image file to write (.png, .pdf, ...)")
    p.add_argument("--per-row", type=int, default=8, help="crops per row (default 8)")
    p.add_argument("--thumb", type=int, default=64, help="side of each crop in px (default 64)")
    p.set_defaults(func=run)


def run(args) -> int:
    stats = load_stats(args.result)
    layer, _, unit = args.neuron.rpartition(":")
    if layer and layer != stats.layer:
        raise NeuronscopeError(f"{args.result} holds statistics of {stats.layer}, not {layer}")
    if not unit.isdigit():
        raise NeuronscopeError(f"neuron must be a unit number or LAYER:UNIT, got {args.neuron!r}")
    plot_quilt(stats, int(unit), args.out, per_row=args.per_row, thumb=args.thumb)
    print(f"wrote {args.out}")
    return 0
