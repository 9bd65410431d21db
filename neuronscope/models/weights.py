"""Finding, downloading, verifying and caching weight files.

Weight files are pickles: they are only ever read with `torch.load(weights_only=True)`.
Downloads go to a temporary file in the cache folder, are checked (size, keys, shapes) and
only then renamed into place, so the cache never holds a partial or corrupt file. The SHA-256
of each downloaded file is recorded beside it, so a file changed later is noticed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import torch
from tqdm.auto import tqdm

from neuronscope.errors import WeightsError


def cache_dir() -> Path:
    """`$NEURONSCOPE_CACHE`, else `$XDG_CACHE_HOME/neuronscope`, else `~/.cache/neuronscope`."""
    if os.environ.get("NEURONSCOPE_CACHE"):
        return Path(os.environ["NEURONSCOPE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "neuronscope"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_state_dict(path: Path, expected: dict[str, tuple[int, ...]], source: str | None = None) -> dict:
    """Load a state dict safely and check it has exactly the expected keys and shapes."""
    where = source or str(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 any unpickling failure means a corrupt or foreign file
        raise WeightsError(f"{where} is not a readable weight file ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{where} does not hold a state dict")
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise WeightsError(f"{where} has the wrong keys (missing {missing[:3]}, unexpected {extra[:3]})")
    for key, shape in expected.items():
        if tuple(state[key].shape) != tuple(shape):
            raise WeightsError(f"{where}: {key} has shape {tuple(state[key].shape)}, expected {tuple(shape)}")
    return state


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def download(url: str, dest: Path, expected: dict[str, tuple[int, ...]], progress: bool = True) -> Path:
    """Download `url` to `dest` atomically after checking it is a state dict of the expected shapes."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=60)
            except urllib.error.HTTPError as exc:
                raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError) as exc:
                raise WeightsError(f"download of {url} failed: {getattr(exc, 'reason', exc)}") from None
            with response:
                total = int(response.headers.get("Content-Length") or 0) or None
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                          disable=not progress) as bar:
                    try:
                        while chunk := response.read(1 << 16):
                            out.write(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                    except (OSError, http.client.HTTPException) as exc:
                        raise WeightsError(f"download of {url} was interrupted: {exc}") from None
            if total is not None and received != total:
                raise WeightsError(f"download of {url} is truncated ({received} of {total} bytes)")
        load_state_dict(tmp, expected, source=f"the file downloaded from {url}")
        digest = sha256(tmp)
        os.replace(tmp, dest)
        _record_path(dest).write_text(json.dumps({"url": url, "sha256": digest}, indent=1) + "\n")
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def check_recorded_hash(path: Path) -> None:
    """Raise if `path` no longer matches the SHA-256 recorded when it was downloaded."""
    record = _record_path(path)
    if not record.exists():
        return
    recorded = json.loads(record.read_text())["sha256"]
    actual = sha256(path)
    if actual != recorded:
        raise WeightsError(f"{path} has changed since it was downloaded (sha256 {actual[:12]}..., recorded "
                           f"{recorded[:12]}...); delete it to download it again")
