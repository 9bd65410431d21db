"""Cached report stages: a stage reruns only when its inputs (its key) change, or with `fresh`."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def run_stage(root: Path, name: str, key: dict, compute: Callable[[Path], dict], fresh: bool = False) -> tuple[dict, bool]:
    """Return (result, reused). `compute(folder)` writes its files into `folder` and returns a
    JSON-able result; the result is stored last and atomically, so an interrupted stage reruns."""
    folder = root / "stages" / name
    record = folder / "result.json"
    digest = key_digest(key)
    if not fresh and record.exists():
        saved = json.loads(record.read_text())
        if saved.get("key") == digest:
            return saved["result"], True
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    result = compute(folder)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": digest, "inputs": key, "result": result}, indent=1, default=str))
    os.replace(tmp, record)
    return result, False
