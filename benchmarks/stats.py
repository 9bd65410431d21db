"""Dataset statistics throughput: images per second of `compute_stats`, and its wall time over the
time spent in the model on the same batches (the cost of decoding and bookkeeping; aim < 1.2).

    python benchmarks/stats.py [FOLDER] [--model efficientnet_lite0] [--layer L] [--batch-size 32]
                               [--workers N] [--limit N] [--device cpu] [--repeats 1]

FOLDER defaults to ../shared/data/imagenet-sample. The model time is measured twice: inside the
run itself (every `capture` call where the run makes it, so both see the same machine load; this
includes the run's one-image shape probe), and in a separate loop over the same batches, decoded
beforehand, which also times the accumulator alone on the captured values.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neuronscope.dataset import compute_stats, resolve_source
from neuronscope.dataset.accumulator import LayerAccumulator
from neuronscope.dataset.decode import batches
from neuronscope.dataset.histogram import calibrated_range
from neuronscope.dataset.run import capture_values
from neuronscope.models import load_model

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class TimedModel:
    """The model, with the seconds spent in its `capture` calls added up in `seconds`."""

    def __init__(self, model):
        self._model, self.seconds = model, 0.0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def capture(self, *args, **kwargs):
        _sync(self._model.device)
        start = time.perf_counter()
        out = self._model.capture(*args, **kwargs)
        _sync(self._model.device)
        self.seconds += time.perf_counter() - start
        return out


def model_only(model, layer, chunks) -> tuple[float, float]:
    """(seconds in the model, seconds in the accumulator) over already decoded uint8 batches."""
    in_model = in_accumulator = 0.0
    accumulator = None
    for chunk, pixels in enumerate(chunks):
        _sync(model.device)
        start = time.perf_counter()
        values = capture_values(model, layer, pixels, True, None)
        _sync(model.device)
        middle = time.perf_counter()
        if accumulator is None:
            lo, hi = calibrated_range(values.amin(1).cpu().numpy(), values.amax(1).cpu().numpy())
            accumulator = LayerAccumulator(lo, hi, bins=1024, strata=16, per_stratum=16, top_k=32, seed=0,
                                           device=model.device)
        accumulator.update(chunk, values, np.arange(values.shape[1], dtype=np.int64) + chunk * values.shape[1])
        _sync(model.device)
        in_model += middle - start
        in_accumulator += time.perf_counter() - middle
    return in_model, in_accumulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER))
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--layer", help="default: the model's curve layer")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, help="decoding processes (default: compute_stats's)")
    parser.add_argument("--limit", type=int, help="use this many images (seeded subset)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=1, help="alternate runs and model-only loops; keep the best")
    args = parser.parse_args()

    model = load_model(args.model, device=args.device)
    layer = args.layer or model.default_layer
    source = resolve_source(args.folder, limit=args.limit)
    n = len(source)
    chunks = [list(range(i, min(i + args.batch_size, n))) for i in range(0, n, args.batch_size)]
    decoded = [pixels for _, pixels, _ in batches(source, chunks, resize=256, size=224, workers=0)]
    capture_values(model, layer, decoded[0], True, None)  # warm-up

    best = {}
    for _ in range(args.repeats):
        timed = TimedModel(model)
        start = time.perf_counter()
        stats = compute_stats(timed, layer, args.folder, batch_size=args.batch_size, workers=args.workers,
                              limit=args.limit, figures="none", progress=False)
        _sync(model.device)
        wall = time.perf_counter() - start
        alone, accumulating = model_only(model, layer, decoded)
        for key, value in (("wall", wall), ("inside", timed.seconds), ("alone", alone), ("acc", accumulating)):
            best[key] = min(best.get(key, float("inf")), value)
    assert stats.images == n, stats.skipped

    print(f"{args.model} {layer}, {n} images of {args.folder}, batch {args.batch_size}, decoding workers "
          f"{args.workers if args.workers is not None else 'default'}, device {args.device}, "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    print(f"| {'measure':38s} | {'seconds':>8s} | {'images/s':>8s} |")
    print(f"| {'-' * 38} | {'-' * 8} | {'-' * 8} |")
    for name, key in (("compute_stats, wall", "wall"), ("model, inside that run", "inside"),
                      ("model alone, same batches", "alone"), ("accumulator alone, same values", "acc")):
        print(f"| {name:38s} | {best[key]:8.2f} | {n / best[key]:8.1f} |")
    print(f"wall / model time inside the run: {best['wall'] / best['inside']:.3f}")
    print(f"wall / model time alone:          {best['wall'] / best['alone']:.3f}")


if __name__ == "__main__":
    main()
