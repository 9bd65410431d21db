"""The atlas's work, split into tasks: what each computes, what it needs, and its identity key.

Kinds (one folder of files each, see `execute`):
  stats     one image shard of a layer's dataset statistics (`compute_stats(shard=...)`)
  merge     a layer's shards merged exactly (`merge_results`)                 needs: stats
  featvis   feature visualisations of a chunk of units (positive, negative, diverse)
  examples  top dataset examples of a chunk of units, cropped at the receptive field   needs: merge
  weights   expanded weights into a chunk of a layer's units from the previous chosen layer
  family    `find_family` over a layer, and the radial tuning of its units          needs: merge

A task's key digests everything its files depend on: the model's weights, the settings it
reads, the source code and its dependencies' keys; a build reruns exactly the tasks whose key
changed or whose files are missing. Every task runs with one CPU thread and fixed seeds, so its
files do not depend on the machine or process it ran in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neuronscope.errors import NeuronscopeError

KINDS = ("stats", "merge", "featvis", "examples", "weights", "family")


@dataclass
class Settings:
    """What a build computes; each task's key holds the fields it reads (see `_READS`)."""

    steps: int = 256          # feature-visualisation steps
    size: int = 128           # feature-visualisation image size
    diversity: int = 3        # diverse visualisations per unit (0: none)
    seed: int = 0
    examples: int = 8         # top dataset examples per unit
    thumb: int = 64           # example crops are resized to this square
    chunk: int = 32           # units per featvis / examples task
    weight_chunk: int = 128   # target units per expanded-weights task (all of the layer's units)
    shard_images: int = 256   # images per statistics task
    limit: int | None = None  # a seeded random subset of the images
    batch_size: int = 32
    resize: int = 256
    image_size: int = 224
    family: bool = True       # look for a curve family in each layer (and draw radial tuning)

    def check(self) -> None:
        positive = ("steps", "size", "examples", "thumb", "chunk", "weight_chunk", "shard_images", "batch_size",
                    "resize", "image_size")
        bad = [k for k in positive if getattr(self, k) < 1]
        if bad or self.diversity < 0 or self.diversity == 1:
            raise NeuronscopeError(f"atlas settings {', '.join(bad) or 'diversity'} out of range: "
                                   "sizes and counts must be positive, diversity 0 or at least 2")


_READS = {
    "stats": ("seed", "limit", "batch_size", "resize", "image_size", "shard_images"),
    "merge": (),
    "featvis": ("steps", "size", "diversity", "seed"),
    "examples": ("examples", "thumb"),
    "weights": (),
    "family": (),
}


@dataclass
class Task:
    kind: str
    layer: str
    part: tuple            # shard (i, n), unit chunk (first, stop) or ()
    deps: list[str] = field(default_factory=list)
    source: str | None = None   # previous chosen layer (weights) or image source (stats)
    units: tuple = ()           # featvis / examples: the chosen units of the chunk (one batch)
    key: str = ""

    @property
    def id(self) -> str:
        part = "-".join(str(p) for p in self.part)
        return f"{self.kind}.{self.layer}" + (f".{part}" if part else "")


def plan(model, layers: list[str], units: dict[str, list[int]], images, settings: Settings,
         identity: dict) -> list[Task]:
    """Every task of a build, dependencies first. `units`: the chosen units of each layer;
    `identity`: what identifies the model and code (see `identity`)."""
    from neuronscope.dataset import resolve_source

    source = resolve_source(images, limit=settings.limit, seed=settings.seed)
    count = math.ceil(len(source) / settings.shard_images)
    described = {k: v for k, v in source.describe().items() if k != "root"}
    tasks: list[Task] = []
    for i, layer in enumerate(layers):
        shards = [Task("stats", layer, (s, count), source=images) for s in range(1, count + 1)]
        merge = Task("merge", layer, (), deps=[t.id for t in shards])
        tasks += shards + [merge]
        for first, stop in _chunks(units[layer], settings.chunk):
            chosen = tuple(u for u in units[layer] if first <= u < stop)
            tasks.append(Task("featvis", layer, (first, stop), units=chosen))
            tasks.append(Task("examples", layer, (first, stop), deps=[merge.id], units=chosen))
        if i > 0:
            for first, stop in _chunks(list(range(_unit_count(model, layer))), settings.weight_chunk):
                tasks.append(Task("weights", layer, (first, stop), source=layers[i - 1]))
        if settings.family:
            tasks.append(Task("family", layer, (), deps=[merge.id]))
    keys = {}
    for t in tasks:
        reads = {k: getattr(settings, k) for k in _READS[t.kind]}
        payload = {"task": t.id, "units": t.units, "source": t.source if t.kind != "stats" else described,
                   "reads": reads, "identity": identity, "deps": [keys[d] for d in t.deps]}
        t.key = keys[t.id] = digest(payload)
    return tasks


def _chunks(units: list[int], size: int) -> list[tuple[int, int]]:
    """Fixed unit ranges [k*size, (k+1)*size) holding chosen units: a task's batch (and so its
    floating-point result) is the chosen units of its range, whatever else a build holds."""
    starts = sorted({u // size * size for u in units})
    return [(s, s + size) for s in starts]


def _unit_count(model, layer: str) -> int:
    return model.layer_shapes(224, [layer])[layer][0]


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


# Code that writes pages or reports, not task results: changing it reruns no task.
_NOT_TASK_CODE = ("atlas/site.py", "atlas/build.py", "atlas/ray_runner.py", "cli/", "report/")


def identity(model) -> dict:
    """What identifies the model and the code: its name and class, a digest of its weights, and
    a digest of neuronscope's source (less the modules that only write pages)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.net.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    code = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        if path.relative_to(root).as_posix().startswith(_NOT_TASK_CODE):
            continue
        code.update(path.relative_to(root).as_posix().encode())
        code.update(path.read_bytes())
    return {"model": model.name, "class": type(model).__name__, "weights": h.hexdigest()[:32],
            "code": code.hexdigest()[:32], "torch": torch.__version__}


@contextlib.contextmanager
def pinned():
    """One CPU thread and a fixed global seed while a task runs: its floating-point result then
    does not depend on the machine's core count or on what ran before it in the process."""
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.random.set_rng_state(state)


def execute(task: Task, model, settings: Settings, inputs: dict[str, Path], out: Path) -> None:
    """Run one task, writing its files into `out`; `inputs` maps each dependency's id to its folder."""
    out.mkdir(parents=True, exist_ok=True)
    with pinned():
        _RUN[task.kind](task, model, settings, inputs, out)


def _run_stats(task, model, s: Settings, inputs, out: Path) -> None:
    from neuronscope.dataset import compute_stats

    # A shard is whole chunks of batch_size images: shard_images is rounded to them.
    compute_stats(model, task.layer, task.source, out, shard=task.part, seed=s.seed, limit=s.limit,
                  batch_size=min(s.batch_size, s.shard_images), resize=s.resize, size=s.image_size,
                  figures="none", progress=False, workers=0, checkpoint_every=math.inf)


def _run_merge(task, model, s: Settings, inputs, out: Path) -> None:
    from neuronscope.dataset import merge_results

    merge_results([inputs[d] for d in task.deps], out, figures="none")


def _units(task: Task, model) -> list[int]:
    if task.units:
        return list(task.units)
    first, stop = task.part
    return list(range(first, min(stop, _unit_count(model, task.layer))))


def _run_featvis(task, model, s: Settings, inputs, out: Path) -> None:
    from neuronscope.dataset.crops import to_uint8
    from neuronscope.optvis import visualize

    units = _units(task, model)
    ids = [f"{task.layer}:{u}" for u in units]
    common = {"steps": s.steps, "size": s.size, "seed": s.seed, "progress": False}
    runs = {"pos": visualize(model, ids, **common), "neg": visualize(model, ids, negative=True, **common)}
    if s.diversity:
        runs["div"] = visualize(model, ids, diversity=s.diversity, **common)
    for name, images in runs.items():
        per = len(images) // len(units)
        for i, u in enumerate(units):
            for k in range(per):
                suffix = f"{name}{k}" if name == "div" else name
                _png(to_uint8(images[i * per + k]), out / f"{u}_{suffix}.png")


def _run_examples(task, model, s: Settings, inputs, out: Path) -> None:
    from PIL import Image

    from neuronscope.dataset import load_stats
    from neuronscope.dataset.crops import example_crop, load_pixels, to_uint8

    stats = load_stats(inputs[task.deps[0]])
    units = _units(task, model)
    pixels: dict[str, torch.Tensor] = {}
    listing = {}
    for u in units:
        rows = []
        for k, ex in enumerate(stats.top(u)[: s.examples]):
            if ex.image_id not in pixels:
                pixels[ex.image_id] = load_pixels(stats, ex.image_id)
            crop = Image.fromarray(to_uint8(example_crop(stats, ex, pixels[ex.image_id])))
            crop = crop.resize((s.thumb, s.thumb), Image.Resampling.BILINEAR)
            crop.save(out / f"{u}_top{k}.png", optimize=False)
            rows.append({"z": round(float(stats.zscore(ex.value, u)), 3), "value": round(float(ex.value), 5),
                         "image": Path(ex.image_id).name, "y": ex.y, "x": ex.x})
        listing[str(u)] = rows
    (out / "examples.json").write_text(json.dumps(listing, sort_keys=True))


def _run_weights(task, model, s: Settings, inputs, out: Path) -> None:
    from neuronscope.circuits import expanded_weights

    try:
        kernels = expanded_weights(model, task.source, task.layer, _units(task, model))
    except NeuronscopeError as exc:  # e.g. a pair whose fields do not align: the pages say why
        (out / "error.json").write_text(json.dumps({"error": str(exc)}))
        return
    np.save(out / "kernels.npy", kernels.float().cpu().numpy())


def _run_family(task, model, s: Settings, inputs, out: Path) -> None:
    from neuronscope.dataset import load_stats
    from neuronscope.families import find_family
    from neuronscope.tuning.figures import best_orientation_curves

    stats = load_stats(inputs[task.deps[0]])
    try:
        family = find_family(model, task.layer, stats=stats)
    except NeuronscopeError as exc:  # e.g. a layer without a spatial grid
        (out / "family.json").write_text(json.dumps({"error": str(exc)}))
        return
    record = family.to_dict()
    if task.layer == model.default_layer:
        t = family.tunings["curves"]
        curves = best_orientation_curves(t, t.z, t.units)
        record["radial"] = {"orientation_deg": [float(v) for v in t.axes["orientation_deg"]],
                            "units": [int(u) for u in t.units],
                            "z": [[round(float(v), 4) if np.isfinite(v) else None for v in curves[:, i]]
                                  for i in range(curves.shape[1])]}
    (out / "family.json").write_text(json.dumps(record, sort_keys=True))


def _png(array: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(array).save(path, optimize=False)


_RUN = {"stats": _run_stats, "merge": _run_merge, "featvis": _run_featvis, "examples": _run_examples,
        "weights": _run_weights, "family": _run_family}
