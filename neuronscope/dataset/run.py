"""Compute, checkpoint, resume and merge per-unit dataset statistics of one layer."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from neuronscope.dataset.accumulator import LayerAccumulator
from neuronscope.dataset.decode import batches, default_workers
from neuronscope.dataset.figures import write_figures
from neuronscope.dataset.histogram import calibrated_range
from neuronscope.dataset.result import (
    FORMAT,
    Stats,
    check_same_run,
    folder_lock,
    load_stats,
    prepare_out_dir,
    referenced_images,
    versions,
    weights_digest,
)
from neuronscope.dataset.sources import ImageSource, resolve_source
from neuronscope.errors import NeuronscopeError
from neuronscope.models import ReceptiveField


def compute_stats(
    model,
    layer: str | None = None,
    source=None,
    out_dir=None,
    *,
    crop: bool = False,
    position: tuple[int, int] | None = None,
    pre_relu: bool = True,
    batch_size: int = 32,
    workers: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    shard=None,
    seed: int = 0,
    limit: int | None = None,
    resize: int = 256,
    size: int = 224,
    bins: int = 1024,
    strata: int = 16,
    per_stratum: int = 16,
    top_k: int = 32,
    margin: float = 1.0,
    checkpoint_every: float = 60.0,
    figures="none",
    progress: bool = True,
) -> Stats:
    """Per-unit statistics of `layer` (default: the model's curve layer) over a dataset.

    model: a neuronscope model (or a name for `ns.load_model`); source: image folder, list file,
    list of paths, or None for the bundled sample images (see `resolve_source`); `limit` keeps a
    seeded random subset. Images are resized (short side `resize`) and centre-cropped to `size`.
    Whole-image mode counts every spatial position of the layer as a sample; `crop=True` counts
    only `position` (default: the central one), i.e. the response to that receptive-field crop.
    Work is split into chunks of `batch_size` images; `shard=(i, n)` or "i/n" (1-based) computes
    the i-th of n contiguous parts, to be combined with `merge_results`. With `out_dir`, the
    state is saved atomically every `checkpoint_every` seconds and at the end, and
    `resume=True` continues a killed run to the identical result (or returns the finished one);
    a folder that already holds something is refused unless `resume` or `overwrite`, and a
    lock keeps a second run out while this one writes. `figures`: "none", "all" or unit numbers
    to draw into out_dir/figures, also from a finished result (with `resume`). `workers`:
    decoding processes (default: none on the CPU, where decoding costs about 1% of the model
    and a process would compete with it for cores; `default_workers()` for a GPU model).
    """
    model = _load(model)
    layer = layer or model.default_layer
    settings = {"batch_size": batch_size, "resize": resize, "size": size, "bins": bins, "strata": strata,
                "per_stratum": per_stratum, "top_k": top_k, "margin": margin, "seed": seed, "limit": limit}
    _validate(model, layer, settings, crop, position, resume, out_dir)
    if resume and overwrite:
        raise NeuronscopeError("resume and overwrite exclude each other")
    shard = _parse_shard(shard)
    if out_dir is None:
        return _compute(model, layer, source, None, settings, crop, position, pre_relu, workers, False, shard,
                        checkpoint_every, figures, progress)
    out = Path(out_dir)
    with folder_lock(out):
        prepare_out_dir(out, resume=resume, overwrite=overwrite)
        return _compute(model, layer, source, out, settings, crop, position, pre_relu, workers, resume, shard,
                        checkpoint_every, figures, progress)


def _compute(model, layer, source, out, settings, crop, position, pre_relu, workers, resume, shard,
             checkpoint_every, figures, progress) -> Stats:
    started = time.monotonic()
    batch_size, resize, size = settings["batch_size"], settings["resize"], settings["size"]
    if workers is None:
        workers = default_workers() if torch.device(model.device).type == "cuda" else 0
    images = resolve_source(source, limit=settings["limit"], seed=settings["seed"])
    units, grid, field = _geometry(model, layer, size)
    figures = _figure_units(figures, units, layer)
    if crop:
        position = tuple(int(v) for v in (position if position is not None else field.central_position()))
        if not (0 <= position[0] < grid[0] and 0 <= position[1] < grid[1]):
            raise NeuronscopeError(f"position {position} is outside {layer}'s {grid[0]}x{grid[1]} grid")
    positions = 1 if crop else grid[0] * grid[1]
    index, count = shard
    chunks_total = math.ceil(len(images) / batch_size)
    first, last = (index - 1) * chunks_total // count, index * chunks_total // count
    if first == last:
        raise NeuronscopeError(f"shard {index}/{count} has no images: {len(images)} images make {chunks_total} "
                               f"chunks of {batch_size}; use at most {chunks_total} shards or a smaller batch size")
    manifest = {
        "format": FORMAT, "complete": False, "model": model.name, "weights": weights_digest(model), "layer": layer,
        "units": units, "grid": list(grid),
        "mode": "crop" if crop else "image", "position": list(position) if crop else None, "pre_relu": pre_relu,
        "receptive_field": {"input_size": list(field.input_size), "size": list(field.size),
                            "stride": list(field.stride), "start": list(field.start)},
        "source": images.describe(), "settings": settings,
        "shards": [f"{index}/{count}"], "chunks": [[first, first]], "chunks_total": chunks_total,
        "images": 0, "skipped": [], "positions": 0, "seconds": 0.0, "versions": versions(), "device": str(model.device),
    }
    reuse = {}  # chunk -> activations already computed for calibration
    if resume and (out / "stats.npz").is_file():
        previous = load_stats(out)
        check_same_run(previous.manifest, manifest, f"cannot resume the run in {out}")
        if previous.manifest["shards"] != manifest["shards"]:
            raise NeuronscopeError(f"cannot resume the run in {out}: it is shard {previous.manifest['shards']}")
        if previous.complete:
            write_figures(previous, out / "figures", figures, workers=default_workers())
            return previous
        accumulator = LayerAccumulator.from_state(previous.arrays, seed=settings["seed"], device=model.device)
        manifest.update({k: previous.manifest[k] for k in ("chunks", "images", "skipped", "positions", "seconds")})
        digests = previous.arrays["image_digest"].copy()
    else:
        chunk, values = _calibrate(model, layer, images, manifest)
        lo, hi = calibrated_range(values.amin(1).cpu().numpy(), values.amax(1).cpu().numpy(), settings["margin"])
        accumulator = LayerAccumulator(lo, hi, bins=settings["bins"], strata=settings["strata"],
                                       per_stratum=settings["per_stratum"], top_k=settings["top_k"],
                                       seed=settings["seed"], device=model.device)
        if first <= chunk < last:
            reuse[chunk] = values
        digests = np.zeros(len(images), np.int64)

    spent = manifest["seconds"]

    def snapshot() -> Stats:
        manifest["seconds"] = round(spent + time.monotonic() - started, 3)
        return _snapshot(accumulator, manifest, images.ids, digests)

    resume_at = manifest["chunks"][0][1]
    todo = [_chunk(c, batch_size, len(images)) for c in range(resume_at, last)]
    shard_images = min(last * batch_size, len(images)) - first * batch_size
    bar = tqdm(total=shard_images, initial=shard_images - sum(map(len, todo)), unit="img", disable=not progress,
               dynamic_ncols=True)
    saved = time.monotonic()
    pin = torch.device(model.device).type == "cuda"
    loader = batches(images, todo, resize=resize, size=size, workers=workers if todo else 0, pin=pin)
    for chunk, (indices, pixels, failures, read) in zip(range(resume_at, last), loader):
        if chunk in reuse:
            values = reuse.pop(chunk)
        elif pixels is not None:
            values = capture_values(model, layer, pixels, pre_relu, position)
        else:
            values = torch.empty(units, 0, device=model.device)
        for i, digest in read:  # what was read, for later readers to compare
            digests[i] = digest
        accumulator.update(chunk, values, (indices.numpy()[:, None] * positions + np.arange(positions)).ravel())
        manifest["images"] += len(indices)
        manifest["positions"] += values.shape[1]
        manifest["skipped"] += [{"index": i, "id": images.ids[i], "error": error} for i, error in failures]
        manifest["chunks"][0][1] = chunk + 1
        bar.update(len(indices) + len(failures))
        if failures:
            bar.set_postfix(skipped=len(manifest["skipped"]))
        if out is not None and time.monotonic() - saved >= checkpoint_every:
            snapshot().save(out)
            saved = time.monotonic()
    bar.close()
    manifest["complete"] = True
    stats = snapshot()
    if out is not None:
        stats.save(out)
        write_figures(stats, out / "figures", figures, workers=default_workers())
    return stats


def merge_results(dirs, out_dir=None, *, figures="none", overwrite: bool = False, workers: int | None = None) -> Stats:
    """Combine complete results over disjoint chunks of the same run (all its shards) into one,
    exactly equal to a single run over the union. Refused unless every part has the same
    identity (model, weights, images, settings) and together they cover every image."""
    parts = [load_stats(d) for d in dirs]
    if not parts:
        raise NeuronscopeError("no results to merge")
    for part, where in zip(parts, dirs):
        if not part.complete:
            raise NeuronscopeError(f"{where} is unfinished; complete it with --resume first")
        check_same_run(parts[0].manifest, part.manifest, f"cannot merge {where}")
    figures = _figure_units(figures, parts[0].units, parts[0].layer)
    seed = parts[0].manifest["settings"]["seed"]
    parts.sort(key=lambda p: p.manifest["chunks"][0][0])
    accumulator = LayerAccumulator.from_state(parts[0].arrays, seed=seed)
    for part in parts[1:]:
        try:
            accumulator.merge(LayerAccumulator.from_state(part.arrays, seed=seed))
        except ValueError as exc:
            raise NeuronscopeError(f"cannot merge overlapping results: {exc}") from exc
    manifest = dict(parts[0].manifest)
    manifest["shards"] = [s for p in parts for s in p.manifest["shards"]]
    manifest["chunks"] = _coalesce([c for p in parts for c in p.manifest["chunks"]])
    total, size = manifest["chunks_total"], manifest["settings"]["batch_size"]
    if manifest["chunks"] != [[0, total]]:
        covered = {c for start, end in manifest["chunks"] for c in range(start, end)}
        missing = [c for c in range(total) if c not in covered]
        images = manifest["source"]["images"]
        lost = sum(min((c + 1) * size, images) - c * size for c in missing)
        raise NeuronscopeError(f"the results cover {images - lost} of {images} images: chunks {_ranges(missing)} "
                               f"(of {size} images each) are in none of them; merge every shard of the run")
    for key in ("images", "positions", "seconds"):
        manifest[key] = sum(p.manifest[key] for p in parts)
    manifest["skipped"] = sorted((s for p in parts for s in p.manifest["skipped"]), key=lambda s: s["index"])
    manifest["versions"] = versions()
    image_ids = {i: r for p in parts for i, r in zip(p.arrays["ref_index"].tolist(), p.arrays["ref_id"].tolist())}
    digests = np.zeros_like(parts[0].arrays["image_digest"])
    for p in parts:
        digests = np.where(p.arrays["image_digest"] != 0, p.arrays["image_digest"], digests)
    stats = _snapshot(accumulator, manifest, image_ids, digests)
    if out_dir is not None:
        with folder_lock(out_dir):
            prepare_out_dir(out_dir, overwrite=overwrite, can_resume=False)
            stats.save(out_dir)
            workers = default_workers() if workers is None else workers
            write_figures(stats, Path(out_dir) / "figures", figures, workers=workers)
    return stats


def _figure_units(which, units: int, layer: str):
    """"all", "none" (or None) or a checked list of unit numbers, before any work starts."""
    if which is None or isinstance(which, str):
        if which not in (None, "all", "none"):
            raise NeuronscopeError(f"figures must be all, none or unit numbers, got {which!r}")
        return which or "none"
    which = [int(u) for u in which]
    bad = [u for u in which if not 0 <= u < units]
    if bad:
        raise NeuronscopeError(f"figures: unit {bad[0]} is out of range: {layer} has {units} units")
    return which


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    out, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}-{v}" if v != start else f"{v}")
            start = None
    return ", ".join(out)


def _load(model):
    if isinstance(model, str):
        import neuronscope

        return neuronscope.load_model(model)
    return model


def _parse_shard(shard) -> tuple[int, int]:
    if shard is None:
        return 1, 1
    try:
        index, count = (int(v) for v in (shard.split("/") if isinstance(shard, str) else shard))
    except (ValueError, TypeError):
        raise NeuronscopeError(f"shard must look like i/n, got {shard!r}") from None
    if not 1 <= index <= count:
        raise NeuronscopeError(f"shard {index}/{count}: shards are numbered 1 to n")
    return index, count


def _validate(model, layer, settings, crop, position, resume, out_dir) -> None:
    if layer not in model.layers:
        raise NeuronscopeError(f"unknown layer {layer!r}; layers of {model.name}: {', '.join(model.layers)}")
    for key in ("batch_size", "bins", "strata", "per_stratum", "top_k", "size"):
        if settings[key] < 1:
            raise NeuronscopeError(f"{key} must be at least 1, got {settings[key]}")
    if settings["bins"] % settings["strata"]:
        raise NeuronscopeError(f"strata ({settings['strata']}) must divide bins ({settings['bins']})")
    if settings["resize"] < settings["size"]:
        raise NeuronscopeError(f"resize ({settings['resize']}) must be at least size ({settings['size']})")
    if resume and out_dir is None:
        raise NeuronscopeError("resume needs the out_dir that holds the checkpoint")
    if position is not None and not crop:
        raise NeuronscopeError("position is only used with crop=True (--crop)")


def _geometry(model, layer: str, size: int):
    """(units, (H, W), receptive field) of a layer's output; a vector layer sees the whole input."""
    shape = model.layer_shapes(size, [layer])[layer]
    if len(shape) == 1:
        return shape[0], (1, 1), ReceptiveField(layer, (size, size), (1, 1), (size, size), (1, 1), (0, 0))
    return shape[0], shape[1:], model.receptive_field(layer, size)


def _chunk(chunk: int, batch_size: int, total: int) -> list[int]:
    return list(range(chunk * batch_size, min((chunk + 1) * batch_size, total)))


def capture_values(model, layer, pixels, pre_relu, position) -> torch.Tensor:
    """(C, N * positions) float32 activations of uint8 images, in (image, y, x) order."""
    x = pixels.to(model.device, non_blocking=True).float().div_(255)
    with torch.no_grad():
        acts = model.capture(x, [layer], pre_relu=pre_relu)[layer]
    if acts.ndim == 2:
        acts = acts[:, :, None, None]
    if position is not None:
        acts = acts[:, :, position[0] : position[0] + 1, position[1] : position[1] + 1]
    values = acts.detach().float().transpose(0, 1).reshape(acts.shape[1], -1).contiguous()
    if not torch.isfinite(values).all():
        raise NeuronscopeError(f"{layer} produced non-finite activations")
    return values


def _calibrate(model, layer, images: ImageSource, manifest: dict):
    """(chunk, activations) of the first chunk of the whole source with a readable image: it
    fixes the histogram range of every shard."""
    settings, position = manifest["settings"], manifest["position"]
    errors = []
    for chunk in range(manifest["chunks_total"]):
        indices = [_chunk(chunk, settings["batch_size"], len(images))]
        loader = batches(images, indices, resize=settings["resize"], size=settings["size"], workers=0)
        _, pixels, failures, _ = next(loader)
        errors += failures
        if pixels is not None:
            return chunk, capture_values(model, layer, pixels, manifest["pre_relu"], position)
    raise NeuronscopeError(f"none of the {len(images)} images could be read (first error: {errors[0][1]})")


def _snapshot(accumulator, manifest: dict, image_ids, digests: np.ndarray) -> Stats:
    """A `Stats` of the accumulator's current state; `image_ids[i]` names image i, `digests[i]` is
    its content digest as read (0: not read)."""
    arrays = accumulator.state()
    arrays["image_digest"] = np.array(digests, np.int64)
    positions = 1 if manifest["mode"] == "crop" else manifest["grid"][0] * manifest["grid"][1]
    referenced = referenced_images(arrays, positions)
    arrays["ref_index"] = referenced
    arrays["ref_id"] = np.array([image_ids[i] for i in referenced.tolist()], dtype=str)
    copied = dict(manifest, chunks=[list(c) for c in manifest["chunks"]], skipped=list(manifest["skipped"]))
    stats = Stats(copied, arrays)
    # Derived values, stored for readers without this package.
    arrays["count"], arrays["mean"], arrays["std"] = np.int64(stats.count), stats.mean, stats.std
    return stats


def _coalesce(ranges) -> list[list[int]]:
    merged = []
    for start, end in sorted(ranges):
        if merged and merged[-1][1] == start:
            merged[-1][1] = end
        else:
            merged.append([start, end])
    return merged
