"""Atlas benchmarks: units per second in-process vs on a local Ray instance, the statistics stage's
cost against the number of images, and the per-unit cost of a model's layers (to size a cluster).

    python benchmarks/atlas.py units [--model efficientnet_lite0] [--layers block4_expand,block6_expand]
                                     [--units 0-15] [--steps 32] [--size 64] [--workers 2]
    python benchmarks/atlas.py stats [FOLDER] [--layer block6_expand] [--counts 100,1000]
    python benchmarks/atlas.py cost --model inceptionv1 --random-weights [--layers mixed3b,mixed4a] [--steps 32]

`units`: builds everything once (statistics, families), then times only the per-unit tasks
(feature visualisation, examples, expanded weights) on copies of that work folder, first in this
process, then on a local Ray instance with `--workers` CPUs (its start-up timed separately); both
builds must give identical sites. `stats`: seconds of the statistics tasks (shards + merge) of
one layer over the first N images of FOLDER (default ../shared/data/imagenet-sample, seeded
subsets). `cost`: seconds per unit of each per-unit task kind, from the build log; featvis cost
is linear in --steps, so scale it to the steps you will run. `--random-weights` builds the model
with random weights of the right shapes (the cost does not depend on the values), for a model
whose trained weights are not at hand. Every task runs with one thread (the atlas pins it).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

import neuronscope as ns
from neuronscope.atlas import Settings, build_atlas

DEFAULT_FOLDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "imagenet-sample"
PER_UNIT = ("featvis", "examples", "weights")


def task_seconds(work: Path) -> dict[str, float]:
    """Seconds per task kind, from the build log's `<kind>.<layer>... done in Ns` lines (last build)."""
    text = (work / "build.log").read_text().split("build: ")[-1]
    totals = defaultdict(float)
    for kind, seconds in re.findall(r"^(\w+)\.\S+ done in ([0-9.]+)s", text, re.M):
        totals[kind] += float(seconds)
    return dict(totals)


def load(name: str, random_weights: bool):
    """The model; with `random_weights`, its trained weights replaced by seeded random ones (through a
    weight file, the way `--weights` loads them)."""
    if not random_weights:
        return ns.load_model(name)
    from neuronscope.models.zoo import get_spec

    g = torch.Generator().manual_seed(0)
    state = {}
    for key, p in get_spec(name).build().state_dict().items():
        scale = (2.0 / max(1, p[0].numel())) ** 0.5 if key.endswith("weight") and p.ndim > 1 else 0.1
        state[key] = torch.randn(p.shape, generator=g) * scale if p.dtype.is_floating_point else p
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.pth"
        torch.save(state, path)
        return ns.load_model(name, weights=path)


@contextlib.contextmanager
def bench(args):
    """(the model, a scratch folder removed afterwards) for one benchmark."""
    model = load(args.model, args.random_weights)
    root = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    try:
        yield model, root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def per_unit_settings(args) -> Settings:
    """The settings of the per-unit benchmarks (`units`, `cost`): no family search."""
    return Settings(steps=args.steps, size=args.size, diversity=args.diversity, limit=args.images, chunk=args.chunk,
                    family=False)


def bench_units(args) -> None:
    import ray

    layers = args.layers.split(",")
    settings = per_unit_settings(args)
    with bench(args) as (model, root):
        base = build_atlas(model, layers, args.folder, root / "base", units=args.units, settings=settings,
                           progress=False)
        results = {}
        for path in ("in-process", "ray"):
            work = root / f"{path}.work"
            shutil.copytree(base.work, work)
            for kind in PER_UNIT:
                for done in (work / "tasks").glob(f"{kind}.*"):
                    shutil.rmtree(done)
            ray_started = 0.0
            if path == "ray":
                began = time.perf_counter()
                ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
                ray_started = time.perf_counter() - began
            try:
                began = time.perf_counter()
                r = build_atlas(model, layers, args.folder, root / path, units=args.units, settings=settings,
                                work=work, ray="local" if path == "ray" else None, progress=False)
                wall = time.perf_counter() - began
            finally:
                if path == "ray":
                    ray.shutdown()
            assert {t.split(".")[0] for t in r.ran} == set(PER_UNIT), r.ran
            results[path] = (r.units, wall, ray_started, task_seconds(work))
        same = _tree(root / "in-process") == _tree(root / "ray")
        print(f"model={args.model} layers={args.layers} units={args.units} steps={args.steps} size={args.size} "
              f"diversity={args.diversity}; Ray with {args.workers} workers; sites identical: {same}")
        for path, (units, wall, started, seconds) in results.items():
            parts = " ".join(f"{k}={v:.1f}s" for k, v in sorted(seconds.items()))
            extra = f" (+{started:.1f}s Ray start-up)" if path == "ray" else ""
            print(f"{path}: {units} units in {wall:.1f}s{extra} = {units / wall:.3f} units/s; task time {parts}")
        print(f"ray/in-process speed: {results['in-process'][1] / results['ray'][1]:.2f}x")


def bench_stats(args) -> None:
    with bench(args) as (model, root):
        rows = []
        for count in (int(c) for c in args.counts.split(",")):
            settings = Settings(steps=1, size=32, diversity=0, examples=1, limit=count, family=False)
            r = build_atlas(model, [args.layer], args.folder, root / f"s{count}", units="0", settings=settings,
                            progress=False)
            seconds = task_seconds(r.work)
            stats = seconds.get("stats", 0.0) + seconds.get("merge", 0.0)
            rows.append((count, stats))
            print(f"{count} images: statistics {stats:.1f}s ({seconds.get('stats', 0):.1f}s shards + "
                  f"{seconds.get('merge', 0):.1f}s merge) = {stats / count * 1000:.0f} ms/image")
        if len(rows) > 1:
            (n0, s0), (n1, s1) = rows[0], rows[-1]
            print(f"{n1}/{n0} images: {s1 / s0:.2f}x the time ({n1 / n0:.0f}x the images)")


def bench_cost(args) -> None:
    settings = per_unit_settings(args)
    with bench(args) as (model, root):
        for layer in args.layers.split(","):
            r = build_atlas(model, [layer], args.folder, root / layer, units=args.units, settings=settings,
                            progress=False)
            seconds = task_seconds(r.work)
            per = {k: seconds.get(k, 0.0) / r.units for k in ("featvis", "examples")}
            print(f"{args.model} {layer}: {r.units} units, per unit featvis {per['featvis']:.2f}s at "
                  f"{args.steps} steps ({per['featvis'] * 256 / args.steps:.1f}s at 256), examples "
                  f"{per['examples']:.3f}s; statistics {seconds.get('stats', 0) + seconds.get('merge', 0):.1f}s "
                  f"for {args.images} images")


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("units", "stats", "cost"))
    parser.add_argument("folder", nargs="?", default=str(DEFAULT_FOLDER))
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--layers", default="block4_expand,block6_expand")
    parser.add_argument("--layer", default="block6_expand")
    parser.add_argument("--units", default="0-15")
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--diversity", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=8)
    parser.add_argument("--images", type=int, default=64, help="images for the statistics (units, cost)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--counts", default="100,1000")
    args = parser.parse_args()
    {"units": bench_units, "stats": bench_stats, "cost": bench_cost}[args.mode](args)


if __name__ == "__main__":
    main()
