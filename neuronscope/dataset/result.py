"""The result folder of a dataset-statistics run, and the `Stats` object read from it.

Folder layout:
  stats.npz      every array of the mergeable state plus the manifest (JSON, key "manifest");
                 written atomically, it is also the checkpoint that `resume` continues from
  manifest.json  a readable copy of the manifest
  summary.csv    one row of derived statistics per unit (complete results only)
  figures/       per-unit distribution figures and a layer overview (see figures.py)
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from neuronscope.dataset.examples import EMPTY
from neuronscope.dataset.histogram import bin_edges, quantiles, tail_fits
from neuronscope.dataset.moments import Block, MomentTree, blocks_from_state
from neuronscope.errors import NeuronscopeError
from neuronscope.models import ReceptiveField

FORMAT = "neuronscope-stats/1"
# Manifest fields that two results must share to be merged or resumed.
IDENTITY = ("model", "layer", "units", "grid", "mode", "position", "pre_relu", "source", "settings")


class Example(NamedTuple):
    value: float
    image: int  # index in the source's ordered image list
    image_id: str
    y: int
    x: int


class Stats:
    """Per-unit statistics of one layer over a dataset (see `compute_stats`). Arrays index units first."""

    def __init__(self, manifest: dict, arrays: dict[str, np.ndarray]):
        self.manifest, self.arrays = manifest, arrays
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
    min = property(lambda self: self.arrays["min"])
    max = property(lambda self: self.arrays["max"])
    hist = property(lambda self: self.arrays["hist"], doc="(C, bins + 2) counts; columns 0 and -1 are under/overflow")

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
        """Write stats.npz (atomically), then manifest.json and, when complete, summary.csv."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, manifest=np.array(json.dumps(self.manifest)), **self.arrays)
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


def load_stats(result_dir) -> Stats:
    """Read a result folder written by `compute_stats` or `merge_results` (complete or a checkpoint)."""
    path = Path(result_dir) / "stats.npz"
    if not path.is_file():
        raise NeuronscopeError(f"no dataset statistics in {result_dir} (missing stats.npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as exc:
        raise NeuronscopeError(f"unreadable statistics file {path}: {exc}") from exc
    manifest = json.loads(str(arrays.pop("manifest")))
    if manifest.get("format") != FORMAT:
        raise NeuronscopeError(f"{path} is not a {FORMAT} result")
    return Stats(manifest, arrays)


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
