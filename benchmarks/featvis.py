"""Rendering a curve family: one batched run that stops at the layer, vs the lucent-style
procedure (one neuron per run, forward pass to the classifier every step), same steps and size.

    python benchmarks/featvis.py [--steps 512] [--size 128] [--units 10] [--baseline-units N]
                                 [--threads T] [--device cpu] [--images DIR] [--unit-list 36,211]

Members: `neuronscope.families.find_family` on the default layer (unit SDs from `--images`,
default the bundled photographs), `--units` of them evenly spaced by orientation, or
`--unit-list`. Both procedures use the same engine (parameterisation, transforms, Adam); the
baseline's objective only declares that it reads the logits too, so every step runs the whole
network forward while its gradient still starts at the layer, as lucent's hook does. Its runs
are alike, so `--baseline-units N` times N of them and scales the mean to all members (the
output says so).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import neuronscope as ns
from neuronscope.optvis import objectives, visualize


def family_units(model, layer: str, count: int, images) -> list[int]:
    members = ns.families.find_family(model, layer, images=images).members  # sorted by orientation
    picks = np.unique(np.linspace(0, len(members) - 1, min(count, len(members))).round().astype(int))
    return [members[i].unit for i in picks]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--layer", default=None, help="default: the model's curve layer")
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--units", type=int, default=10, help="family members to render")
    parser.add_argument("--unit-list", default=None, help="comma-separated units instead of the family")
    parser.add_argument("--baseline-units", type=int, default=None, help="time the baseline on this many (default all)")
    parser.add_argument("--images", default=None, help="images for the family's unit SDs (default bundled photos)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ns.load_model(args.model, device=args.device)
    layer = args.layer or model.default_layer
    if args.unit_list:
        units, source = [int(u) for u in args.unit_list.split(",")], "given"
    else:
        units, source = family_units(model, layer, args.units, args.images), "curve family (find_family)"
    run = dict(steps=args.steps, size=args.size, progress=False)
    print(f"{model.name} {layer}: {len(units)} units ({source}) {units}")
    print(f"{args.steps} steps, {args.size} px, {args.device}, torch threads {torch.get_num_threads()}")

    visualize(model, [f"{layer}:{u}" for u in units], steps=2, size=args.size, progress=False)  # warm-up
    batched = seconds(lambda: visualize(model, [f"{layer}:{u}" for u in units], **run))

    def lucent_style(unit: int):
        unit_objective = objectives.neuron(layer, unit)
        visualize(model, objectives.Objective(unit_objective.fn, {layer, "logits"}, "lucent-style"), **run)

    timed = units[:args.baseline_units] if args.baseline_units else units
    baseline = sum(seconds(lambda u=u: lucent_style(u)) for u in timed) / len(timed) * len(units)
    scaled = "" if len(timed) == len(units) else f" (timed on {len(timed)} units, scaled to {len(units)})"
    print(f"batched, stops at {layer}:   {batched:9.1f} s")
    print(f"lucent-style, per neuron:   {baseline:9.1f} s{scaled}")
    print(f"speed-up:                   {baseline / batched:9.2f}x")


if __name__ == "__main__":
    main()
