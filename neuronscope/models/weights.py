"""Finding, downloading, verifying and caching weight files.

Weight files are pickles: they are only ever read with `torch.load(weights_only=True)`.
Downloads go to a temporary file in the cache folder, are checked (deadline, size cap, SHA-256
where one is known, keys, shapes) and only then renamed into place, so the cache never holds
a partial or corrupt file. The SHA-256 of each downloaded file is recorded beside it, so a
file changed later is noticed; without a known SHA-256 the first download is unverified, and
says so.
"""

from __future__ import annotations

import glob
import hashlib
import http.client
import json
import math
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import torch
from tqdm.auto import tqdm

from neuronscope.errors import WeightsError, plain


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
        raise WeightsError(f"{where} is not a readable weight file ({type(exc).__name__}: {plain(exc)})") from None
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


# SHA-256 of the published weight files, where known; `wanted_sha256` reads an override.
PINNED: dict[str, str] = {}
DEADLINE_S = 900.0  # a whole download; NEURONSCOPE_DOWNLOAD_DEADLINE overrides
READ_TIMEOUT_S = 60.0  # one read from the server
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def wanted_sha256(name: str) -> str | None:
    """The SHA-256 a model's downloaded weights must have: `$NEURONSCOPE_<NAME>_SHA256` (given
    by the user, e.g. from the publisher's page), else the pinned one, else None (unverified)."""
    value = os.environ.get(f"NEURONSCOPE_{name.upper()}_SHA256") or PINNED.get(name)
    if value is not None and not _HEX64.match(value.strip().lower()):
        raise WeightsError(f"NEURONSCOPE_{name.upper()}_SHA256 must be 64 hexadecimal digits, got {value!r}")
    return value.strip().lower() if value else None


def max_download_bytes(expected: dict[str, tuple[int, ...]]) -> int:
    """The largest file a state dict of these float32 shapes can be: the tensors plus 5% and 1 MiB."""
    values = sum(math.prod(shape) for shape in expected.values())
    return int(values * 4 * 1.05) + (1 << 20)


def download(url: str, dest: Path, expected: dict[str, tuple[int, ...]], progress: bool = True, *,
             sha256_hex: str | None = None, deadline: float | None = None,
             read_timeout: float = READ_TIMEOUT_S) -> Path:
    """Download `url` to `dest` atomically after checking it is a state dict of the expected
    shapes, no larger than they need (`max_download_bytes`), within `deadline` seconds, and,
    given `sha256_hex`, that it has that SHA-256. Without one the file is unverified, and a
    warning says so. The partial file (`.part`) is removed on any failure, and stale ones left
    by a killed download are removed first."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("https", "http"):
        raise WeightsError(f"cannot download {url}: only http and https addresses are used, not {scheme or 'none'}")
    if deadline is None:
        deadline = float(os.environ.get("NEURONSCOPE_DOWNLOAD_DEADLINE") or DEADLINE_S)
    cap = max_download_bytes(expected)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise WeightsError(f"the weight cache {dest.parent} is not a folder (see NEURONSCOPE_CACHE)") from None
    _remove_stale_parts(dest, older_than=deadline + read_timeout)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    started = time.monotonic()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=read_timeout)
            except urllib.error.HTTPError as exc:
                raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise WeightsError(f"download of {url} failed: {getattr(exc, 'reason', exc)}") from None
            with response:
                total = int(response.headers.get("Content-Length") or 0) or None
                if total is not None and total > cap:
                    raise WeightsError(f"download of {url} refused: it is {total} bytes, and weights of this model "
                                       f"take at most {cap}")
                received = 0
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                          disable=not progress) as bar:
                    try:
                        while chunk := response.read1(1 << 16):
                            out.write(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
                            if received > cap:
                                raise WeightsError(f"download of {url} stopped: more than {cap} bytes, the most "
                                                   f"weights of this model take")
                            if time.monotonic() - started > deadline:
                                raise WeightsError(f"download of {url} stopped: not finished after {deadline:g} s "
                                                   f"({received} bytes; NEURONSCOPE_DOWNLOAD_DEADLINE sets the limit)")
                    except (OSError, http.client.HTTPException) as exc:
                        raise WeightsError(f"download of {url} was interrupted: {exc}") from None
            if total is not None and received != total:
                raise WeightsError(f"download of {url} is truncated ({received} of {total} bytes)")
        digest = sha256(tmp)
        if sha256_hex is not None and digest != sha256_hex:
            raise WeightsError(f"the file downloaded from {url} has SHA-256 {digest}, not the expected {sha256_hex}; "
                               f"it was not kept")
        load_state_dict(tmp, expected, source=f"the file downloaded from {url}")
        os.replace(tmp, dest)
        record = {"url": url, "sha256": digest, "verified": sha256_hex is not None}
        _record_path(dest).write_text(json.dumps(record, indent=1) + "\n")
        if sha256_hex is None:
            sys.stderr.write(f"warning: {dest.name} from {url} is unverified: no published SHA-256 is known to check "
                             f"it against (its SHA-256 is {digest}); set NEURONSCOPE_<MODEL>_SHA256 to verify a "
                             f"download\n")
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def _remove_stale_parts(dest: Path, older_than: float) -> None:
    """Delete `.part` files of `dest` that no live download can still be writing (killed ones)."""
    now = time.time()
    for part in dest.parent.glob(f"{glob.escape(dest.name)}.*.part"):
        try:
            if now - part.stat().st_mtime > older_than:
                part.unlink()
        except OSError:
            pass


def check_recorded_hash(path: Path, sha256_hex: str | None = None) -> None:
    """Raise if `path` no longer matches the SHA-256 recorded when it was downloaded, or does not
    have `sha256_hex` when that is given."""
    record = _record_path(path)
    recorded = None
    if record.exists():
        try:
            recorded = json.loads(record.read_text())["sha256"]
        except (ValueError, KeyError, TypeError, OSError):
            raise WeightsError(f"{record} is unreadable; delete it and {path} to download the weights again") from None
    if recorded is None and sha256_hex is None:
        return
    actual = sha256(path)
    if recorded is not None and actual != recorded:
        raise WeightsError(f"{path} has changed since it was downloaded (sha256 {actual[:12]}..., recorded "
                           f"{recorded[:12]}...); delete it to download it again")
    if sha256_hex is not None and actual != sha256_hex:
        raise WeightsError(f"{path} has SHA-256 {actual}, not the expected {sha256_hex}; delete it to download it "
                           f"again")
