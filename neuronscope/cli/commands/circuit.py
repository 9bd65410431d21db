"""`neuronscope circuit MODEL --from LAYER --to LAYER --out DIR`: family-to-family circuits.

Writes the family matrix (kernels and summed weights), the equivariance score and plot, the
family paths graph and the downstream units of the source family, plus summary.json.
"""

from __future__ import annotations

import json

import numpy as np

from neuronscope.circuits import expanded_weights, figures, views
from neuronscope.circuits.equivariance import equivariance
from neuronscope.circuits.expanded import unit_list
from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.errors import NeuronscopeError
from neuronscope.families import Family, find_family
from neuronscope.tuning.figures import save

FAMILY_HELP = "UNIT:DEG,... , a family JSON or FILE:NAME (default: found with find_family)"


def add_family_args(p) -> None:
    """--from/--to/--out and the two families: shared with `edit-echo`."""
    p.add_argument("--from", dest="source", required=True, metavar="LAYER", help="source layer")
    p.add_argument("--to", dest="target", required=True, metavar="LAYER", help="target layer")
    p.add_argument("--out", required=True, type=validate.out_dir, metavar="DIR", help="output folder")
    p.add_argument("--source-family", metavar="FAMILY", help=f"the source's curve family: {FAMILY_HELP}")
    p.add_argument("--target-family", metavar="FAMILY", help=f"the target's curve family: {FAMILY_HELP}")
    p.add_argument("--images", default=None, type=validate.existing_path,
                   help="images for dataset SDs when families are found "
                        "(default: the bundled photographs)")


def families_from_args(model, args) -> tuple[Family, Family]:
    """The two families as given, else found (curve families, dataset SDs over --images)."""
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


def register(subparsers) -> None:
    p = subparsers.add_parser("circuit", help="family-to-family expanded weights, equivariance, paths, downstream",
                              description=__doc__.split("\n\n")[0] + " Weights are expanded weights in the linear "
                                          "approximation (ReLU = identity, max-pool = average-pool).")
    add_model_args(p)
    add_family_args(p)
    p.add_argument("--bin-deg", type=validate.float_range(0, 180, low_open=True), default=45.0,
                   help="orientation-difference bin for equivariance "
                        "(default 45)")
    p.add_argument("--shuffles", type=validate.positive_int, default=200,
                   help="orientation shuffles for the equivariance null "
                        "(default 200)")
    p.add_argument("--seed", type=validate.seed, default=0, help="seed of the shuffles")
    p.add_argument("--sectors", type=validate.positive_int, default=4,
                   help="orientation sectors each family is split into "
                        "for the paths graph (default 4)")
    p.add_argument("--top", type=validate.positive_int, default=6, help="downstream units shown (default 6)")
    p.set_defaults(func=run)


def sectors(group: Family, count: int) -> dict[str, Family]:
    """A family split by preferred orientation into `count` equal sectors (empty ones dropped)."""
    if count < 1:
        raise NeuronscopeError("--sectors must be >= 1")
    width = group.period / count
    out = {}
    for k in range(count):
        members = [(u, o) for u, o in zip(group.units, group.require_orientations())
                   if int(o % group.period // width) == k]
        if members:
            name = f"{k * width:.0f}-{(k + 1) * width:.0f}°"
            out[name] = Family.from_units([u for u, _ in members], [o for _, o in members], layer=group.layer,
                                          kind=group.kind, name=name)
    return out


def run(args) -> int:
    model = model_from_args(args)
    source, target = families_from_args(model, args)
    kernels = expanded_weights(model, args.source, args.target)
    matrix = views.family_matrix(model, args.source, source, args.target, target, kernels=kernels)
    eq = equivariance(matrix, args.bin_deg, args.shuffles, args.seed)
    graph = views.family_paths(model, [(args.source, sectors(source, args.sectors)),
                                       (args.target, sectors(target, args.sectors))])
    down = views.downstream(model, args.source, source, args.target, args.top, kernels=kernels)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / "matrix.npz", kernels=matrix.kernels.cpu().numpy(), summed=matrix.summed.cpu().numpy(),
                        source_units=matrix.source.units, target_units=matrix.target.units)
    paths = [save(figures.plot_family_matrix(matrix), out / "matrix.png"),
             save(figures.plot_equivariance(eq, matrix), out / "equivariance.png"),
             save(figures.plot_paths(graph), out / "paths.png"),
             save(figures.plot_downstream(down), out / "downstream.png")]
    summary = {
        "model": model.name, "from": args.source, "to": args.target,
        "weights": "expanded, linear approximation (ReLU = identity, max-pool = average-pool)",
        "source_family": _family(matrix.source), "target_family": _family(matrix.target),
        "equivariance": eq.summary(),
        "paths": [{"from": f"{args.source} {a}", "to": f"{args.target} {b}", "weight": round(w, 5)}
                  for _, a, b, w in graph.edges],
        "downstream": [{"unit": u, "summed_abs_weight": round(s, 5)} for u, s in zip(down.units, down.scores)],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for path in [*paths, out / "matrix.npz", out / "summary.json"]:
        print(path)
    e = eq.summary()
    null = e.get("shuffled_orientations", {})
    print(f"equivariance correlation={e['correlation']} explained_variance={e['explained_variance']} "
          f"kernels={e['kernels_predicted']}/{e['kernels']} shuffled_mean={null.get('mean_correlation')} "
          f"shuffled_p95={null.get('p95_correlation')} p={null.get('p_value')}")
    return 0


def _family(group: Family) -> dict:
    return {"units": list(group.units), "orientations_deg": list(group.orientations or [])}
