"""A blind labelling session: one unit's stratified dataset samples, shuffled with a seed, each
to be given one category by a person who does not see its activation.

Answers are appended to RESULTDIR/labels/unit_NNNN.jsonl as they are given (flushed and synced),
after a header line, written with the first answer, that fixes the unit, seed and categories.
The last line about an item wins (a null label takes an answer back), so the file is never
rewritten and a restart continues with the first unanswered item.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from neuronscope.dataset.crops import example_crop
from neuronscope.dataset.figures import check_unit
from neuronscope.dataset.result import Example, load_stats
from neuronscope.errors import NeuronscopeError

DEFAULT_CATEGORIES = ("curve", "imperfect curve", "unrelated", "opposing curve")
FORMAT = "neuronscope-labels/1"


class Item(NamedTuple):
    example: Example
    stratum: int

    @property
    def key(self) -> str:
        return f"{self.example.image}:{self.example.y}:{self.example.x}"


class LabelSession:
    """Labels of one unit of the `stats` result in `result_dir`. `unit` may be left out when the
    layer has one unit or one session already exists; `categories` (default DEFAULT_CATEGORIES)
    and `seed` must match an existing session's when given. `images`: the folder the images are
    in now, if they moved since the statistics run (see `load_stats`)."""

    def __init__(self, result_dir, unit: int | None = None, categories=None, seed: int | None = None, images=None):
        self.result_dir = Path(result_dir)
        self.stats = load_stats(result_dir, images)
        self.stats.require_complete(f"the statistics in {result_dir}")
        self.unit = check_unit(self.stats, _default_unit(self.result_dir, self.stats) if unit is None else unit)
        self.path = self.result_dir / "labels" / f"unit_{self.unit:04d}.jsonl"
        records = _records(self.path)
        header = records[0] if records else None
        if header is not None and header.get("format") != FORMAT:
            raise NeuronscopeError(f"{self.path} is not a {FORMAT} file")
        self.seed = header["seed"] if seed is None and header else (0 if seed is None else int(seed))
        categories = list(categories) if categories else (header["categories"] if header else list(DEFAULT_CATEGORIES))
        if len(set(categories)) != len(categories) or not all(isinstance(c, str) and c.strip() for c in categories):
            raise NeuronscopeError(f"categories must be distinct non-empty names, got {categories}")
        self.categories = categories
        self.items = self._shuffled_items()
        self._header = header or self._new_header()
        if header is not None:
            wanted = self._new_header()
            differ = [k for k in wanted if header.get(k) != wanted[k]]
            if differ:
                raise NeuronscopeError(f"{self.path} was started with a different {', '.join(differ)}; "
                                       f"use its settings or another result folder")
        self.answers: dict[int, str] = {}
        self.history: list[int] = []  # answered items, in the order their current answers were given
        self._replay(records[1:])

    def __len__(self) -> int:
        return len(self.items)

    @property
    def answered(self) -> int:
        return len(self.answers)

    def next_index(self) -> int | None:
        """The first unanswered item in the shuffled order, None when all are answered."""
        return next((i for i in range(len(self.items)) if i not in self.answers), None)

    def answer(self, index: int, label: str) -> None:
        """Record `label` for item `index` (a later answer replaces an earlier one)."""
        self._check_index(index)
        if label not in self.categories:
            raise NeuronscopeError(f"unknown category {label!r}; categories: {', '.join(self.categories)}")
        item = self.items[index]
        self._append({"index": index, "item": item.key, "label": label, "stratum": item.stratum,
                      "value": item.example.value, "image_id": item.example.image_id, "time": round(time.time(), 3)})
        self._set(index, label)

    def undo(self) -> int | None:
        """Take back the latest answer; returns its item (now unanswered), None if nothing is answered."""
        if not self.history:
            return None
        index = self.history[-1]
        self._append({"index": index, "item": self.items[index].key, "label": None, "time": round(time.time(), 3)})
        self._set(index, None)
        return index

    def check_images(self) -> None:
        """Refuse when an item's image went missing or changed since the statistics run (before
        labelling: its crop would be grey or of another picture); see `Stats.check_images`."""
        self.stats.check_images(item.example.image for item in self.items)

    def crop(self, index: int):
        """(3, h, w) float crop of item `index` at its receptive field (its image checked first)."""
        self._check_index(index)
        self.stats.check_images([self.items[index].example.image])
        return example_crop(self.stats, self.items[index].example)

    def counts(self) -> np.ndarray:
        """(strata, categories) number of answers per activation stratum and category."""
        out = np.zeros((self.stats.arrays["sample_key"].shape[1], len(self.categories)), np.int64)
        for index, label in self.answers.items():
            out[self.items[index].stratum, self.categories.index(label)] += 1
        return out

    # -- storage --------------------------------------------------------------------
    def _shuffled_items(self) -> list[Item]:
        items = [Item(e, s) for s, examples in enumerate(self.stats.samples(self.unit)) for e in examples]
        if not items:
            raise NeuronscopeError(f"no samples stored for unit {self.unit}")
        order = np.random.default_rng(self.seed).permutation(len(items))
        return [items[i] for i in order]

    def _new_header(self) -> dict:
        m = self.stats.manifest
        return {"format": FORMAT, "model": m["model"], "layer": m["layer"], "unit": self.unit, "seed": self.seed,
                "categories": self.categories, "source": m["source"]["fingerprint"], "items": len(self.items),
                "item_keys_hash": _hash([item.key for item in self.items])}

    def _replay(self, records: list[dict]) -> None:
        keys = [item.key for item in self.items]
        for record in records:
            index = record.get("index")
            if not isinstance(index, int) or not 0 <= index < len(keys) or record.get("item") != keys[index]:
                raise NeuronscopeError(f"{self.path} has a record for an item not in this session: {record}")
            label = record.get("label")
            if label is not None and label not in self.categories:
                raise NeuronscopeError(f"{self.path} has an answer outside the categories: {label!r}")
            self._set(index, label)

    def _set(self, index: int, label: str | None) -> None:
        if index in self.answers:
            self.history.remove(index)
            del self.answers[index]
        if label is not None:
            self.answers[index] = label
            self.history.append(index)

    def _append(self, record: dict) -> None:
        """Append a record (after the header, when this is the file's first answer)."""
        started = self.path.is_file() and self.path.stat().st_size > 0
        lines = [record] if started else [self._header, record]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(line) + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())

    def _check_index(self, index) -> None:
        if not isinstance(index, int) or not 0 <= index < len(self.items):
            raise NeuronscopeError(f"no item {index!r}; items are 0 to {len(self.items) - 1}")


def sessions(result_dir) -> list[int]:
    """Units that have a labelling session in a result folder."""
    folder = Path(result_dir) / "labels"
    return sorted(int(p.stem.split("_")[1]) for p in folder.glob("unit_*.jsonl")) if folder.is_dir() else []


def _default_unit(result_dir: Path, stats) -> int:
    started = sessions(result_dir)
    if len(started) == 1:
        return started[0]
    if stats.units == 1:
        return 0
    begun = f" (labels exist for units {', '.join(map(str, started))})" if started else ""
    raise NeuronscopeError(f"{stats.layer} has {stats.units} units; choose one with --neuron UNIT{begun}")


def _records(path: Path) -> list[dict]:
    """The file's records; a last line cut off by a crash is dropped (and cut from the file)."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with open(path, "r+b") as handle:
            handle.truncate(len(data))
    try:
        return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
    except ValueError as exc:
        raise NeuronscopeError(f"{path} is not a labels file: {exc}") from None


def _hash(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:16]
