"""Curve tracing on images with known curves (the extraction benchmark's generator).

    python benchmarks/trace.py [--n 16] [--size 128] [--seed 1] [--model efficientnet_lite0] [--threads 1]

Each image of `curve_set(n, size, seed)` (half over textures, half over noise; one to three
curves) is traced with `trace_curves(model, image, n_curves=<its number of curves>)`, and scored
by `score_tracing`: mean distance from the splines to the nearest true centre line, the share of
spline points within 3 px of one, and the share of each true curve covered within 3 px. Then the
same with an occluder: a mid-grey disc of radius size/10 painted over the middle of the first
curve, traced without and with the occlusion rule (the disc as `occlude`); there the coverage
counts only the curves' visible points, and `bridged` is the share of spline points inside the
disc. Prints a Markdown table per background.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neuronscope.applications.curves import curve_set
from neuronscope.applications.extract import extract_curves
from neuronscope.applications.trace import score_tracing, trace_map
from neuronscope.errors import NeuronscopeError
from neuronscope.models import load_model


def occluded(item, radius: float):
    """The image with a grey disc over the first curve's midpoint, the disc mask, and each curve's
    visible points (x, y)."""
    h, w = item.image.shape[-2:]
    cy, cx = item.paths[0][len(item.paths[0]) // 2]
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
    image = item.image.clone()
    image[:, torch.from_numpy(disc)] = 0.5
    visible = [p[(p[:, 0] - cy) ** 2 + (p[:, 1] - cx) ** 2 > radius ** 2][:, ::-1] for p in item.paths]
    return image, disc, [v for v in visible if len(v)]


def run(model, items, radius: float) -> dict[str, list[dict]]:
    rows: dict[str, list[dict]] = {}
    for item in items:
        curves = [p[:, ::-1] for p in item.paths]
        k = len(curves)
        plain = extract_curves(model, item.image)
        image, disc, visible = occluded(item, radius)
        hidden = extract_curves(model, image)
        for name, target, occ, truth in (("clean", plain, None, curves), ("occluded, no rule", hidden, None, visible),
                                         ("occluded, rule", hidden, disc, visible)):
            try:
                splines = trace_map(target, k, occluder=occ)
            except NeuronscopeError:
                splines = []
            score = score_tracing(splines, truth)
            pts = (np.concatenate([s.sample(max(2, int(s.length * 2))) for s in splines]) if splines
                   else np.zeros((0, 2)))
            ij = np.clip(np.rint(pts[:, ::-1]).astype(int), 0, np.array(disc.shape) - 1)
            score["bridged"] = float(disc[ij[:, 0], ij[:, 1]].mean()) if len(pts) else 0.0
            score["splines"] = len(splines)
            score["curves"] = k
            rows.setdefault(f"{item.background} | {name}", []).append(score)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    items = curve_set(args.n, args.size, args.seed)
    start = time.perf_counter()
    rows = run(model, items, args.size / 10)
    seconds = time.perf_counter() - start
    print(f"{model.name}, {args.n} images of {args.size} px (curve_set seed {args.seed}), {seconds:.0f} s")
    print("| background | condition | images | mean distance (px) | spline points within 3 px | "
          "true curve covered | splines / curves | bridged |")
    print("|---|---|---|---|---|---|---|---|")
    for key, scores in rows.items():
        dist = np.nanmean([s["distance"] for s in scores])
        near = np.mean([s["near"] for s in scores])
        cov = np.mean([c for s in scores for c in s["covered"]])
        found = sum(s["splines"] for s in scores) / sum(s["curves"] for s in scores)
        bridged = np.mean([s["bridged"] for s in scores])
        print(f"| {key} | {len(scores)} | {dist:.2f} | {near:.2f} | {cov:.2f} | {found:.2f} | {bridged:.3f} |")


if __name__ == "__main__":
    main()
