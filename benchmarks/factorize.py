"""NMF speed: one layer of 100 images at 224 px factorised jointly (the issue asks for seconds).

    python benchmarks/factorize.py [FOLDER] [--model efficientnet_lite0] [--layers block6_expand,block13_expand]
                                   [--n 100] [--k 8] [--threads 1]

FOLDER defaults to ../shared/data/imagenet-sample (its first N images in sorted order, standard
224 px view). Captures the layer once (timed on its own), then times `nmf` on the stacked
(positions x channels) matrix, and `project` (applying the groups to one image). Prints one line
per layer: matrix shape, capture seconds, NMF seconds, iterations, whether it converged, error.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neuronscope.applications.factorize import layer_activations, nmf, project
from neuronscope.images import standard_view, list_images, load_image
from neuronscope.models import load_model

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folder", nargs="?", default=DEFAULT_FOLDER)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--layers", default="block6_expand,block13_expand")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    images = torch.stack([standard_view(load_image(f)) for f in list_images(args.folder)[:args.n]])
    print(f"{model.name}: {len(images)} images at 224 px, k={args.k}, {args.threads} thread(s)")
    for layer in args.layers.split(","):
        start = time.perf_counter()
        _, mats = layer_activations(model, images, layer)
        capture = time.perf_counter() - start
        x = np.concatenate(mats)
        info: dict = {}
        start = time.perf_counter()
        w, h = nmf(x, args.k, seed=0, info=info)
        seconds = time.perf_counter() - start
        error = np.linalg.norm(x - w @ h) / np.linalg.norm(x)
        start = time.perf_counter()
        project(mats[0], h)
        one = time.perf_counter() - start
        print(f"{layer}: matrix {x.shape[0]}x{x.shape[1]} ({x.nbytes / 2**20:.0f} MiB float64) "
              f"capture_s={capture:.1f} nmf_s={seconds:.2f} iterations={info['iterations']} "
              f"converged={info['converged']} error={error:.3f} find_one_image_s={one:.3f}")


if __name__ == "__main__":
    main()
