"""`neuronscope circuit MODEL --from LAYER --to LAYER --out DIR`: family-to-family circuits.

Writes the family matrix (kernels and summed weights), the equivariance score and plot, the
family paths graph and the downstream units of the source family, plus summary.json.
"""

from __future__ import annotations

from neuronscope.cli import validate
from neuronscope.cli.common import add_model_args, model_from_args
from neuronscope.cli.options import add_circuit_args, circuit_families
from neuronscope.experiments.circuit import circuit_experiment


def register(subparsers) -> None:
    p = subparsers.add_parser("circuit", help="family-to-family expanded weights, equivariance, paths, downstream",
                              description=__doc__.split("\n\n")[0] + " Weights are expanded weights in the linear "
                                          "approximation (ReLU = identity, max-pool = average-pool).")
    add_model_args(p)
    add_circuit_args(p)
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


def run(args) -> int:
    model = model_from_args(args)
    source, target = circuit_families(model, args)
    result = circuit_experiment(model, args.source, args.target, source, target, bin_deg=args.bin_deg,
                                shuffles=args.shuffles, seed=args.seed, sector_count=args.sectors, top=args.top)
    for path in result.save(args.out):
        print(path)
    e = result.equivariance.summary()
    null = e.get("shuffled_orientations", {})
    print(f"equivariance correlation={e['correlation']} explained_variance={e['explained_variance']} "
          f"kernels={e['kernels_predicted']}/{e['kernels']} shuffled_mean={null.get('mean_correlation')} "
          f"shuffled_p95={null.get('p95_correlation')} p={null.get('p_value')}")
    return 0
