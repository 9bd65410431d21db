"""Find and trace butterflies with NMF neuron groups fitted on other butterflies (leave one out).

    python benchmarks/butterflies.py [--layers block6_expand,block10_expand,block13_expand]
                                     [--trace-layer block13_expand] [--k 3] [--figure PNG] [--threads 1]

The sample's butterflies (../shared/data/imagenet-sample, ImageNet classes 321-326: admiral,
ringlet, monarch, cabbage butterfly, sulphur butterfly, lycaenid; one image each, standard 224 px
view). For each held-out image, k groups are fitted jointly on the other five
(`factorize_images`); the butterfly group is the one whose fitted maps put the most mass inside
the five training butterflies' boxes (hand-drawn boxes, below; fitting never sees the held-out
image or its box); `find_groups` maps it on the held-out image and `trace_group` traces it.

Scores on the held-out image: "found" when the group map's peak lies in the butterfly's box;
"mass in box" against the box's share of the image (what a uniform map would get); "traced"
when at least 75% of the spline points lie in the box grown by 8 px.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neuronscope.applications.factorize import colour_overlay, factorize_images, find_groups, upsample
from neuronscope.applications.trace import overlay, trace_group
from neuronscope.images import load_image, standard_view
from neuronscope.models import load_model

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"
# file, class, hand-drawn box (x0, y0, x1, y1) in the 224 px standard view
BUTTERFLIES = (("n02276258.jpg", "admiral", (32, 28, 218, 138)),
               ("n02277742.jpg", "ringlet", (0, 40, 210, 200)),
               ("n02279972.jpg", "monarch", (0, 30, 155, 224)),
               ("n02280649.jpg", "cabbage butterfly", (16, 92, 138, 210)),
               ("n02281406.jpg", "sulphur butterfly", (130, 60, 210, 140)),
               ("n02281787.jpg", "lycaenid", (68, 60, 132, 116)))


def box_mask(box, size=224, grow=0) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros((size, size), bool)
    mask[max(0, y0 - grow):y1 + grow, max(0, x0 - grow):x1 + grow] = True
    return mask


def leave_one_out(model, images, layer: str, k: int, trace: bool):
    rows = []
    for test in range(len(images)):
        train = [i for i in range(len(images)) if i != test]
        fact = factorize_images(model, [images[i] for i in train], layer, k)
        inside = np.zeros(fact.k)
        for j, i in enumerate(train):
            up, mask = fact.upsampled(j), box_mask(BUTTERFLIES[i][2])
            inside += (up * mask).sum((1, 2)) / np.maximum(up.sum((1, 2)), 1e-12) - mask.mean()
        group = int(np.argmax(inside))
        maps = find_groups(model, fact.groups, images[test])
        found = upsample(maps, (224, 224))[group]
        mask = box_mask(BUTTERFLIES[test][2])
        y, x = np.unravel_index(found.argmax(), found.shape)
        row = {"name": BUTTERFLIES[test][1], "group": group, "found": bool(mask[y, x]),
               "mass": float((found * mask).sum() / max(found.sum(), 1e-12)), "box": float(mask.mean()),
               "maps": maps}
        if trace:
            start = time.perf_counter()
            traced = trace_group(model, fact.groups, group, images[test])
            pts = np.concatenate([s.sample(max(2, int(s.length))) for s in traced.splines])
            ij = np.clip(np.rint(pts[:, ::-1]).astype(int), 0, 223)
            row["in_box"] = float(box_mask(BUTTERFLIES[test][2], grow=8)[ij[:, 0], ij[:, 1]].mean())
            row["traced"] = row["in_box"] >= 0.75
            row["splines"] = traced.splines
            row["seconds"] = time.perf_counter() - start
        rows.append(row)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", default="block6_expand,block10_expand,block13_expand")
    p.add_argument("--trace-layer", default="block13_expand")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--figure", type=Path, help="write the found-and-traced figure here")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("efficientnet_lite0")
    images = [standard_view(load_image(SAMPLE / f)) for f, _, _ in BUTTERFLIES]
    print(f"{model.name}: leave-one-out over {len(images)} butterflies, k={args.k}")
    print("| layer | found (peak in box) | mean map mass in box | mean box share of image | traced (>=75% in box) |")
    print("|---|---|---|---|---|")
    traced_rows = None
    for layer in args.layers.split(","):
        rows = leave_one_out(model, images, layer, args.k, trace=layer == args.trace_layer)
        traced = (f"{sum(r['traced'] for r in rows)}/{len(rows)}" if layer == args.trace_layer else "-")
        print(f"| {layer} | {sum(r['found'] for r in rows)}/{len(rows)} | {np.mean([r['mass'] for r in rows]):.2f} | "
              f"{np.mean([r['box'] for r in rows]):.2f} | {traced} |")
        if layer == args.trace_layer:
            traced_rows = rows
    if traced_rows:
        for r in traced_rows:
            print(f"{args.trace_layer} {r['name']}: found={r['found']} mass_in_box={r['mass']:.2f} "
                  f"splines={len(r['splines'])} in_box={r['in_box']:.2f} traced={r['traced']} ({r['seconds']:.0f} s)")
    if args.figure and traced_rows:
        from neuronscope.stimuli.tiling import save_grid

        tiles = []
        for image, r in zip(images, traced_rows):
            one = np.zeros((len(r["maps"]), 224, 224))
            one[r["group"]] = upsample(r["maps"], (224, 224))[r["group"]]
            tiles.append(torch.from_numpy(colour_overlay(image, one, 0.9)).permute(2, 0, 1).float())
            tiles.append(overlay(image, r["splines"]))
        print(f"wrote {save_grid(torch.stack(tiles), args.figure, ncols=4)}")


if __name__ == "__main__":
    main()
