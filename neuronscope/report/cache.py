"""Cached report stages: a stage reruns only when its key changes, or with `fresh`.

A stage's key holds everything its result depends on: the model's weights, the layer, the
images' content (`content_digest`), the stage's own parameters and a hash of the source code it
runs (`code_digest`), so a change of code or thresholds recomputes it rather than reusing it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


@functools.cache
def code_digest(*modules: str) -> str:
    """SHA-256 over the source files of `modules` (a package counts with every .py file under it)."""
    digest = hashlib.sha256()
    for name in sorted(set(modules)):
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"no source for module {name}")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for path in files:
            digest.update(path.as_posix().rsplit("neuronscope/", 1)[-1].encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def content_digest(source) -> str:
    """Hash of an `ImageSource`'s ids and every image's content (`dataset.sources.content_digest`:
    the file's bytes or the array's pixels), so an image replaced under the same name changes it."""
    from neuronscope.dataset.sources import content_digest as image_digest

    digest = hashlib.sha256(source.fingerprint().encode())
    for index in range(len(source)):
        digest.update(image_digest(source.item(index)).to_bytes(8, "little", signed=True))
    return digest.hexdigest()[:16]


def run_stage(root: Path, name: str, key: dict, compute: Callable[[Path], dict],
              fresh: bool = False) -> tuple[dict, bool]:
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
