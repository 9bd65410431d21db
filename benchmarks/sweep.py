"""Stimuli per second for a full orientation x radius curve sweep of one layer, against a plain loop.

    python benchmarks/sweep.py [--model efficientnet_lite0] [--layer L] [--orientations 360] [--radii 32]
                               [--batch 256] [--baseline 48] [--device cpu]

Fast path (`neuronscope.tuning`): stimuli rendered in batches at the layer's minimal exact input
(96 x 96 for block6_expand instead of 224 x 224), evaluated in batches, stopping at the layer.
Baseline: each stimulus rendered as a full 224 x 224 image and run through the whole model one
image at a time. The baseline is timed on `--baseline` stimuli spread over the sweep and its
per-stimulus rate extrapolated to the sweep; both paths' values are compared on those stimuli.
CPU time (this process, all threads) is printed too: on a shared machine it is steadier.
InceptionV1 uses random weights of the published shapes (timing does not depend on the values).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture import random_inceptionv1  # noqa: E402

import neuronscope as ns  # noqa: E402
from neuronscope import stimuli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_lite0", choices=["efficientnet_lite0", "inceptionv1"])
    parser.add_argument("--layer", help="default: the model's curve layer")
    parser.add_argument("--orientations", type=int, default=360)
    parser.add_argument("--radii", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--baseline", type=int, default=48, help="stimuli the baseline is timed on")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    if args.model == "inceptionv1":
        model = random_inceptionv1()
        model.default_layer = "mixed3b"
    else:
        model = ns.load_model(args.model)
    model.to(args.device)
    probe = ns.tuning.make_probe(model, args.layer)
    side = probe.field_size
    theta, radius = stimuli.sweep(torch.arange(args.orientations) * (360 / args.orientations),
                                  torch.from_numpy(ns.tuning.default_radii(args.radii)) * side, device=args.device)
    n = len(theta)
    style = dict(arc_length=side / 2, stroke_width=3.0)
    print(f"{model.name} {probe.layer} @{probe.position}: field {side:.0f} px, window {probe.size} "
          f"(full input 224), {args.orientations} x {args.radii} = {n} stimuli, {probe.channels} units; "
          f"device {args.device}, torch threads {torch.get_num_threads()}")

    def sync():
        if torch.device(args.device).type == "cuda":
            torch.cuda.synchronize()

    probe.measure(stimuli.curves, {"orientation_deg": theta[:args.batch], "radius": radius[:args.batch]},
                  batch_size=args.batch, **style)  # warm-up
    sync()
    start, cpu = time.perf_counter(), time.process_time()
    fast = probe.measure(stimuli.curves, {"orientation_deg": theta, "radius": radius}, batch_size=args.batch, **style)
    sync()
    fast_s, fast_cpu = time.perf_counter() - start, time.process_time() - cpu

    pick = torch.linspace(0, n - 1, args.baseline).round().long()
    center = probe.field.center(*probe.position)
    y, x = probe.position
    slow = []
    with torch.no_grad():
        model.capture(torch.zeros(1, 3, 224, 224, device=args.device), [probe.layer, "logits"])  # warm-up
        sync()
        start, cpu = time.perf_counter(), time.process_time()
        for i in pick.tolist():
            image = stimuli.curves(theta[i], radius[i], size=224, center=center, device=args.device, **style)
            acts = model.capture(image, [probe.layer, "logits"], pre_relu=True)
            slow.append(acts[probe.layer][0, :, y, x].float().cpu())
        sync()
        slow_s, slow_cpu = time.perf_counter() - start, time.process_time() - cpu
    diff = (torch.stack(slow) - fast[pick]).abs().max().item()

    fast_rate, slow_rate = n / fast_s, args.baseline / slow_s
    print(f"fast:     {n} stimuli in {fast_s:.1f} s = {fast_rate:,.0f} stimuli/s (batches of {args.batch}); "
          f"CPU time {fast_cpu:.1f} s")
    print(f"baseline: {args.baseline} stimuli in {slow_s:.1f} s = {slow_rate:,.1f} stimuli/s "
          f"(extrapolated: {n / slow_rate:.0f} s for the sweep); CPU time {slow_cpu:.1f} s")
    print(f"speed-up: {fast_rate / slow_rate:.1f}x wall clock, "
          f"{(n / fast_cpu) / (args.baseline / slow_cpu):.1f}x CPU time; "
          f"max |difference| of the {args.baseline} shared values: {diff:.2g}")

if __name__ == "__main__":
    main()
