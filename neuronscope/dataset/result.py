"""The result folder of a dataset-statistics run, and the `Stats` object read from it.

Folder layout:
  stats.npz      every array of the mergeable state plus the manifest (JSON, key "manifest") and
                 a SHA-256 over both (key "checksum"); written atomically, it is also the
                 checkpoint that `resume` continues from
  manifest.json  a readable copy of the manifest
  summary.csv    one row of derived statistics per unit (complete results only)
  figures/       distribution figures drawn on request (see figures.py)
  .lock          held (a POSIX lock) by the run or merge writing the folder

A result's identity (`IDENTITY`) is what decides every number: the model and a digest of its
weights, the layer and mode, the images (names and sizes, see `ImageSource.describe`) and the
settings. Each image's content digest is recorded when it is read (array "image_digest"), so
a later reader (quilt, labelling) can tell an image that changed or moved since.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import shutil
import threading
import zipfile
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from neuronscope.dataset.examples import EMPTY
from neuronscope.dataset.histogram import bin_edges, quantiles, tail_fits
from neuronscope.dataset.moments import Block, MomentTree, blocks_from_state
from neuronscope.dataset.sources import content_digest, open_item
from neuronscope.errors import NeuronscopeError
from neuronscope.models import ReceptiveField

FORMAT = "neuronscope-stats/2"
# Manifest fields that two results must share to be merged or resumed.
IDENTITY = ("model", "weights", "layer", "units", "grid", "mode", "position", "pre_relu", "source", "settings")
# Files a run or merge writes into its folder; a folder holding anything else is not a result.
OWN_FILES = ("stats.npz", "manifest.json", "summary.csv", "figures", "labels", ".lock")


class Example(NamedTuple):
    value: float
    image: int  # index in the source's ordered image list
    image_id: str
    y: int
    x: int


class Stats:
    """Per-unit statistics of one layer over a dataset (see `compute_stats`). Arrays index units first."""

    def __init__(self, manifest: dict, arrays: dict[str, np.ndarray], images=None):
        self.manifest, self.arrays = manifest, arrays
        self.images_root = None if images is None else str(Path(images).absolute())  # see image_item
        self._refs = dict(zip(arrays["ref_index"].tolist(), arrays["ref_id"].tolist()))
        blocks = blocks_from_state(arrays)
        total = MomentTree(blocks).total() if blocks else Block(0, 0, 0, None, None)
        self.count = total.n
        nan = np.full(self.units, np.nan)
        self.mean = np.asarray(total.mean, np.float64) if total.n else nan
        self.std = np.sqrt(np.asarray(total.m2, np.float64) / total.n) if total.n else nan
        self.frac_positive = arrays["positive"] / total.n if total.n else nan

    def __repr__(self):
        return f"Stats({self.model}:{self.layer}, units={self.units}, images={self.images}, positions={self.count})"

    def _repr_html_(self) -> str:
        from neuronscope.notebook import table_html

        rows = [["model", self.model], ["layer", self.layer], ["units", self.units], ["images", self.images],
                ["skipped", len(self.skipped)], ["positions", self.count], ["complete", self.complete],
                ["mean of unit means", float(np.nanmean(self.mean))],
                ["mean of unit SDs", float(np.nanmean(self.std))]]
        return table_html(["", ""], rows, "dataset statistics")

    layer = property(lambda self: self.manifest["layer"])
    model = property(lambda self: self.manifest["model"])
    units = property(lambda self: self.manifest["units"])
    images = property(lambda self: self.manifest["images"], doc="images counted (skipped ones excluded)")
    skipped = property(lambda self: self.manifest["skipped"], doc="[{index, id, error}] of unreadable images")
    complete = property(lambda self: self.manifest["complete"])
    covers_all = property(lambda self: self.manifest["chunks"] == [[0, self.manifest["chunks_total"]]],
                          doc="whether the chunks counted are all of the source's (not one shard's)")
    min = property(lambda self: self.arrays["min"])
    max = property(lambda self: self.arrays["max"])
    hist = property(lambda self: self.arrays["hist"], doc="(C, bins + 2) counts; columns 0 and -1 are under/overflow")

    def require_complete(self, where="the statistics") -> Stats:
        """Self, if finished over every image of its source; else a NeuronscopeError saying why."""
        if not self.complete:
            raise NeuronscopeError(f"{where} are unfinished; complete them with --resume first")
        if not self.covers_all:
            m = self.manifest
            raise NeuronscopeError(f"{where} are shard {', '.join(m['shards'])} of a run (chunks {m['chunks']} of "
                                   f"{m['chunks_total']}); merge every shard with stats-merge first")
        return self

    def check_model(self, model) -> None:
        """Refuse a model other than the one (name and weights) these statistics were computed with."""
        if model.name != self.model:
            raise NeuronscopeError(f"the statistics are of model {self.model}, not {model.name}")
        if self.manifest.get("weights") != weights_digest(model):
            raise NeuronscopeError(f"the statistics were computed with other weights of {self.model} (digest "
                                   f"{self.manifest.get('weights')}, these are {weights_digest(model)})")

    @property
    def edges(self) -> np.ndarray:
        """(C, bins + 1) edges of the in-range histogram bins."""
        return bin_edges(self.arrays["hist_lo"], self.arrays["hist_hi"], self.hist.shape[1] - 2)

    def quantile(self, q) -> np.ndarray:
        """Per-unit quantiles from the histogram, (C,) for a scalar q, else (C, len(q))."""
        a = self.arrays
        out = quantiles(a["hist"], a["hist_lo"], a["hist_hi"], a["min"], a["max"], q)
        return out[:, 0] if np.ndim(q) == 0 else out

    def tail_fits(self, tail: float = 0.05) -> dict[str, np.ndarray]:
        """Exponential fits of both tails per unit: {left,right}_{rate,start,mass} (see histogram.tail_fits)."""
        return tail_fits(self.hist, self.arrays["hist_lo"], self.arrays["hist_hi"], tail)

    def zscore(self, values, unit=None):
        """(values - mean) / std of `unit` (or of every unit along the last axis)."""
        sl = slice(None) if unit is None else unit
        return (np.asarray(values, np.float64) - self.mean[sl]) / self.std[sl]

    def top(self, unit: int) -> list[Example]:
        """The largest values of `unit`, largest first (ties: lowest image, then position)."""
        return self._examples(self.arrays["top_value"][unit], self.arrays["top_gid"][unit])

    def bottom(self, unit: int) -> list[Example]:
        """The smallest values of `unit`, smallest first."""
        return self._examples(self.arrays["bottom_value"][unit], self.arrays["bottom_gid"][unit])

    @property
    def strata_edges(self) -> np.ndarray:
        """(C, strata + 1) value bounds of the sampling strata; the outer strata extend to +-inf."""
        strata = self.arrays["sample_key"].shape[1]
        edges = self.edges[:, :: (self.hist.shape[1] - 2) // strata].copy()
        edges[:, 0], edges[:, -1] = -np.inf, np.inf
        return edges

    def samples(self, unit: int) -> list[list[Example]]:
        """Per stratum (low to high values), a seeded uniform random sample of its values."""
        a = self.arrays
        strata = range(a["sample_gid"].shape[1])
        return [self._examples(a["sample_value"][unit, s], a["sample_gid"][unit, s]) for s in strata]

    @property
    def receptive_field(self) -> ReceptiveField:
        """Where each position of the layer looks in the (resized, centre-cropped) input."""
        rf = {k: tuple(v) for k, v in self.manifest["receptive_field"].items()}
        grid = tuple(self.manifest["grid"])
        return ReceptiveField(self.layer, rf["input_size"], grid, rf["size"], rf["stride"], rf["start"])

    def image_item(self, image_id: str):
        """What to open for an image id: its file or bundled array. With `images_root` (the
        images' new place, `load_stats(..., images=DIR)`), a folder source's ids are looked up
        under it, and a list's paths by their place relative to the list file's folder."""
        source = self.manifest["source"]
        kind, root = source["kind"], source["root"]
        if self.images_root is not None and kind == "folder":
            root = self.images_root
        elif self.images_root is not None and kind == "list":
            base = os.path.dirname(root)
            inside = image_id.startswith(base.rstrip(os.sep) + os.sep)
            return os.path.join(self.images_root, os.path.relpath(image_id, base) if inside else
                                os.path.basename(image_id))
        return open_item(kind, root, image_id)

    def check_images(self, images) -> None:
        """Refuse when any of these image indices is missing or changed (content digest) since the
        run read it: its crops would be grey or of another picture. Says which, and how to point
        at the images' new place."""
        images, problems = sorted({int(i) for i in images}), []
        for image in images:
            image_id, recorded = self._refs[image], int(self.arrays["image_digest"][image])
            item = self.image_item(image_id)
            if not isinstance(item, np.ndarray) and not os.path.isfile(item):
                problems.append(f"{image_id} (missing: {item})")
            elif recorded and content_digest(item) != recorded:
                problems.append(f"{image_id} (changed since the run read it)")
        if problems:
            root = self.images_root or self.manifest["source"]["root"]
            raise NeuronscopeError(f"{len(problems)} of {len(images)} images behind these examples are missing "
                                   f"or changed since the statistics were computed (from {root}), first "
                                   f"{problems[0]}; if the images moved, point at their new place with "
                                   f"--images DIR (images=DIR in load_stats)")

    def image_id(self, image: int) -> str:
        """The source's id (relative path, absolute path or sample name) of an image an example refers to."""
        return self._refs[int(image)]

    def _examples(self, values, gids) -> list[Example]:
        grid_h, grid_w = self.manifest["grid"]
        out = []
        for value, gid in zip(values.tolist(), gids.tolist()):
            if gid == EMPTY:
                continue
            if self.manifest["mode"] == "crop":
                image, (y, x) = gid, self.manifest["position"]
            else:
                image, pos = divmod(gid, grid_h * grid_w)
                y, x = divmod(pos, grid_w)
            out.append(Example(value, image, self._refs[image], y, x))
        return out

    def summary_rows(self, tail: float = 0.05) -> list[dict]:
        qs = (0.01, 0.1, 0.5, 0.9, 0.99)
        quant = self.quantile(qs)
        fits = self.tail_fits(tail)
        rows = []
        for u in range(self.units):
            row = {"unit": u, "mean": self.mean[u], "std": self.std[u], "frac_positive": self.frac_positive[u],
                   "min": self.min[u], "max": self.max[u]}
            row.update({f"q{round(q * 100):02d}": quant[u, i] for i, q in enumerate(qs)})
            row.update({"left_rate": fits["left_rate"][u], "right_rate": fits["right_rate"][u]})
            rows.append(row)
        return rows

    def save(self, out_dir) -> None:
        """Write stats.npz (atomically, with its checksum), then manifest.json and, when complete, summary.csv."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        text = json.dumps(self.manifest)
        np.savez_compressed(buffer, manifest=np.array(text), checksum=np.array(checksum(text, self.arrays)),
                            **self.arrays)
        write_atomic(out / "stats.npz", buffer.getvalue())
        write_atomic(out / "manifest.json", (json.dumps(self.manifest, indent=2) + "\n").encode())
        if self.complete:
            text = io.StringIO()
            rows = self.summary_rows()
            writer = csv.DictWriter(text, fieldnames=list(rows[0]))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: f"{v:.6g}" if isinstance(v, float | np.floating) else v for k, v in row.items()})
            write_atomic(out / "summary.csv", text.getvalue().encode())


def load_stats(result_dir, images=None) -> Stats:
    """Read a result folder written by `compute_stats` or `merge_results` (complete or a checkpoint),
    after checking the checksum over its arrays and manifest: an edited or corrupted file is refused.
    `images`: the folder the images are in now, if they moved since the run (see `Stats.image_item`)."""
    path = Path(result_dir) / "stats.npz"
    if not path.is_file():
        raise NeuronscopeError(f"no dataset statistics in {result_dir} (missing stats.npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        text, stored = str(arrays.pop("manifest")), str(arrays.pop("checksum", ""))
        manifest = json.loads(text)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        # ValueError includes JSONDecodeError and numpy's refusal of pickled (object) arrays
        kind = "not a .npz archive" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise NeuronscopeError(f"unreadable statistics file {path} ({kind}); recompute it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise NeuronscopeError(f"{path} is not a {FORMAT} result (format {found}); recompute it with this version")
    if stored != checksum(text, arrays):
        raise NeuronscopeError(f"{path} fails its checksum: it was modified or corrupted after it was written; "
                               f"recompute it (or resume from an intact copy)")
    return Stats(manifest, arrays, images)


def checksum(manifest_text: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the manifest's JSON and every array (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256(manifest_text.encode("utf-8", "surrogatepass"))
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def weights_digest(model) -> str:
    """Short SHA-256 of a model's parameters and buffers (names, dtypes, shapes, values): two
    results computed with different weights of the same architecture never share it."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.net.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"\0{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


_HELD: set[Path] = set()  # folders locked by this process (a POSIX lock cannot tell its own threads apart)
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def folder_lock(folder):
    """Hold an exclusive lock on `folder` (created if needed) for the block, so that two runs or
    merges never write one result folder at once; a second one is refused at once. The lock is a
    POSIX record lock, which belongs to this process alone: decode workers forked from a run that
    is then killed do not inherit it, so `--resume` right after a kill is not refused."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = folder.resolve()
    with _HELD_GUARD:
        if key in _HELD:
            raise NeuronscopeError(f"{folder} is being written by process {os.getpid()} (this one); wait for it "
                                   f"to finish or use another folder")
        _HELD.add(key)
    try:
        try:
            import fcntl
        except ImportError:  # not POSIX: this process's own lock only
            yield
            return
        with open(folder / ".lock", "a+") as handle:
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise NeuronscopeError(f"{folder} is being written by {holder}; wait for it to finish or use "
                                       f"another folder") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.lockf(handle, fcntl.LOCK_UN)
    finally:
        with _HELD_GUARD:
            _HELD.discard(key)


def prepare_out_dir(folder, *, resume: bool = False, overwrite: bool = False, can_resume: bool = True) -> None:
    """Refuse to write a result into a folder that already holds something, unless `resume`
    (continue the result there) or `overwrite` (replace it: its own files are deleted first);
    `can_resume`: whether the refusal may suggest resuming (a merge cannot)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NeuronscopeError(f"{folder} exists and is not a folder")
    present = sorted(p.name for p in folder.iterdir() if p.name != ".lock") if folder.is_dir() else []
    if not present:
        return
    if overwrite:
        foreign = [name for name in present if name not in OWN_FILES]
        if foreign:
            raise NeuronscopeError(f"{folder} holds files that are not a result's ({', '.join(foreign[:3])}); "
                                   f"it is not overwritten: use an empty folder")
        if "labels" in present:
            raise NeuronscopeError(f"{folder} holds labels given by hand ({folder / 'labels'}); move them away "
                                   f"before overwriting the result they belong to")
        for name in present:
            target = folder / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink()
        return
    if resume and (folder / "stats.npz").is_file():
        return
    what = "a result" if (folder / "stats.npz").is_file() else "files"
    hint = "an empty folder"
    if what == "a result":
        hint = "--resume to continue it or --overwrite to replace it" if can_resume else "--overwrite to replace it"
    raise NeuronscopeError(f"{folder} already holds {what} ({', '.join(present[:3])}); use {hint}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and os.replace, so a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def versions() -> dict:
    try:
        own = metadata.version("neuronscope")
    except metadata.PackageNotFoundError:
        own = "unknown"
    return {"neuronscope": own, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def identity(manifest: dict) -> dict:
    """The manifest fields that decide every number; a folder source may move (its root is left out)."""
    out = {key: manifest.get(key) for key in IDENTITY}
    out["source"] = {k: v for k, v in (out["source"] or {}).items() if k != "root"}
    return out


def check_same_run(a: dict, b: dict, what: str) -> None:
    """Raise unless two manifests describe the same model, layer, images and settings."""
    ia, ib = identity(a), identity(b)
    differ = [key for key in IDENTITY if ia[key] != ib[key]]
    if differ:
        raise NeuronscopeError(f"{what}: results differ in {', '.join(differ)}")


def referenced_images(arrays: dict, positions: int) -> np.ndarray:
    """Sorted image indices that the stored examples refer to."""
    gids = np.concatenate([arrays[k].ravel() for k in ("top_gid", "bottom_gid", "sample_gid")])
    gids = gids[gids != EMPTY]
    return np.unique(gids // positions)
