"""Capturing a mid-network layer vs a full forward pass to the logits, on the same inputs.

    python benchmarks/capture.py [--batch 16] [--size 224] [--device cpu]

InceptionV1 is timed with random weights of the published shapes (timing does not depend on
the values; these machines cannot download the real file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import best_time  # noqa: E402

from neuronscope.models.base import NativeModel  # noqa: E402
from neuronscope.models import inceptionv1, zoo  # noqa: E402


def random_inceptionv1() -> NativeModel:
    model = NativeModel(inceptionv1.InceptionV1Net(), preprocess=inceptionv1.preprocess)
    model.name = "inceptionv1 (random weights)"
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    images = torch.rand(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    print(f"batch {args.batch} x {args.size}px on {args.device}, torch threads {torch.get_num_threads()}")
    print(f"{'model':32s} {'layer':14s} {'capture s':>10s} {'full s':>10s} {'speed-up':>9s}")
    for model, layer in ((random_inceptionv1(), "mixed3b"),
                         (zoo.load_model("efficientnet_lite0"), "block6_expand")):
        model.to(args.device)
        x = images.to(args.device)
        with torch.no_grad():
            full = best_time(lambda: model(x))
            part = best_time(lambda: model.capture(x, [layer]))
        print(f"{model.name:32s} {layer:14s} {part:10.3f} {full:10.3f} {full / part:8.2f}x")


if __name__ == "__main__":
    main()
