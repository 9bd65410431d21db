"""Expanded weights for a whole layer pair: batched backward passes vs one backward pass per target unit.

    python benchmarks/expanded.py [--subset 48] [--batch-size 16] [--device cpu] [--threads N] [--no-pack]

The batched method (`neuronscope.circuits.expanded_weights`) puts target units in the batch
dimension, and packs several per batch element at target positions whose source windows do
not overlap, so one backward pass yields many kernels. The baseline runs one linearised
forward pass, then one backward pass per target unit (reusing the graph, its cheapest form).
The baseline is timed on `--subset` units and extrapolated linearly to the whole layer (the
printed `extrapolated` column says so); both methods' kernels are checked to agree on that subset.
InceptionV1 uses random weights of the published shapes (timing does not depend on the values).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_time  # noqa: E402
from capture import random_inceptionv1  # noqa: E402

from neuronscope.circuits import expanded_weights, span  # noqa: E402
from neuronscope.circuits.expanded import clear_input_size  # noqa: E402
from neuronscope.models import linearized, zoo  # noqa: E402

PAIRS = (("efficientnet_lite0", "block5", "block6_expand"), ("efficientnet_lite0", "block3", "block6_expand"),
         ("inceptionv1", "mixed3a", "mixed3b"), ("inceptionv1", "conv2d2", "mixed3b"))


def per_unit(model, source: str, target: str, units: list[int]) -> tuple[torch.Tensor, float, float]:
    """Kernels by one backward pass per unit; returns (kernels, forward seconds, seconds per unit)."""
    n = clear_input_size(model, target)
    window = span(model, source, target, n)
    cy, cx = model.receptive_field(target, n).central_position()
    y0, x0 = window.start(cy, cx)
    (kh, kw) = window.size
    leaf = []

    def replace(value):
        leaf.append(torch.zeros_like(value, requires_grad=True))
        return leaf[0]

    with linearized(), torch.enable_grad():
        start = time.perf_counter()
        out = model.capture(torch.zeros(1, 3, n, n, device=model.device), [target], pre_relu=True,
                            interventions={source: replace})[target]
        forward = time.perf_counter() - start
        kernels = []
        start = time.perf_counter()
        for u in units:
            (grad,) = torch.autograd.grad(out[0, u, cy, cx], leaf[0], retain_graph=True)
            kernels.append(grad[0, :, y0:y0 + kh, x0:x0 + kw])
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        each = (time.perf_counter() - start) / len(units)
    return torch.stack(kernels), forward, each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=48, help="target units the per-unit baseline is timed on")
    parser.add_argument("--batch-size", type=int, default=16, help="batch elements per backward pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-pack", action="store_true", help="one unit per batch element (central position)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, batch size {args.batch_size}, "
          f"packing {'off' if args.no_pack else 'on'}, baseline timed on {args.subset} units and extrapolated")
    print(f"{'model':20s} {'pair':26s} {'units':>5s} {'kernel':>7s} {'batched s':>10s} "
          f"{'per-unit s':>11s} {'(extrapolated)':>14s} {'ratio':>7s}")
    models = {}
    for name, source, target in PAIRS:
        if name not in models:
            models[name] = random_inceptionv1() if name == "inceptionv1" else zoo.load_model(name)
            models[name].to(args.device)
        model = models[name]

        def batched():
            out = expanded_weights(model, source, target, batch_size=args.batch_size, pack=not args.no_pack)
            if model.device.type == "cuda":
                torch.cuda.synchronize()
            return out

        kernels = batched()
        seconds = best_time(batched, repeats=args.repeats, warmup=0)
        units = list(range(min(args.subset, kernels.shape[0])))
        per_unit(model, source, target, units[:2])  # warm-up
        runs = [per_unit(model, source, target, units) for _ in range(args.repeats)]
        reference = runs[0][0]
        forward, each = min(r[1] for r in runs), min(r[2] for r in runs)  # best of n, like the batched time
        torch.testing.assert_close(reference, kernels[units], atol=1e-5, rtol=1e-4)
        baseline = forward + each * kernels.shape[0]
        pair = f"{source}->{target}"
        size = "x".join(map(str, kernels.shape[-2:]))
        print(f"{name:20s} {pair:26s} {kernels.shape[0]:5d} {size:>7s} {seconds:10.3f} {baseline:11.3f} "
              f"{'yes' if len(units) < kernels.shape[0] else 'no':>14s} {baseline / seconds:6.1f}x")


if __name__ == "__main__":
    main()
