"""Where dataset images come from: a folder, a list file, explicit paths or the bundled samples.

An `ImageSource` is a fixed, ordered list of image ids; an image's index in that list is its
identity in every statistic, shard and checkpoint, so the order must never depend on the machine.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuronscope.errors import NeuronscopeError
from neuronscope.images import list_images, sample_images

_PATH_COLUMNS = ("path", "file", "filename", "image")


@dataclass(frozen=True)
class ImageSource:
    """Ordered image ids. `kind` is "folder" (ids relative to `root`), "list" (absolute paths)
    or "samples" (names of the bundled images, whose pixels are held in `arrays`)."""

    kind: str
    root: str | None
    ids: tuple[str, ...]
    arrays: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, index: int):
        """What the decoder opens for image `index`: a file path or an (H, W, 3) uint8 array."""
        return open_item(self.kind, self.root, self.ids[index], self.arrays)

    def fingerprint(self) -> str:
        """Hash of the ordered ids: runs, shards and checkpoints over the same images share it."""
        digest = hashlib.sha256(self.kind.encode())
        for image_id in self.ids:
            digest.update(b"\0" + image_id.encode("utf-8", "surrogateescape"))
        return digest.hexdigest()[:16]

    def content_fingerprint(self) -> str:
        """Hash of every image's size in bytes (-1: missing), in order: as cheap as listing the
        folder, and different for other files under the same names. Sizes, not times, so that a
        copy of the images on another machine has the same fingerprint."""
        digest = hashlib.sha256()
        for index in range(len(self.ids)):
            item = self.item(index)
            if isinstance(item, np.ndarray):
                size = item.nbytes
                digest.update(content_digest(item).to_bytes(8, "little", signed=True))
            else:
                try:
                    size = os.stat(item).st_size
                except OSError:
                    size = -1
            digest.update(size.to_bytes(8, "little", signed=True))
        return digest.hexdigest()[:16]

    def describe(self) -> dict:
        return {"kind": self.kind, "root": self.root, "images": len(self.ids), "fingerprint": self.fingerprint(),
                "content": self.content_fingerprint()}


def content_digest(item) -> int:
    """A 64-bit digest (never 0) of a file's bytes or an array's pixels; 0 if the file cannot be read.
    Recorded for every image as it is read, so that a later reader can tell a changed image."""
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(item, np.ndarray):
        digest.update(f"{item.dtype.str}{item.shape}".encode())
        digest.update(np.ascontiguousarray(item).tobytes())
    else:
        try:
            with open(item, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
        except OSError:
            return 0
    return int.from_bytes(digest.digest(), "little", signed=True) or 1


def resolve_source(source=None, *, limit: int | None = None, seed: int = 0) -> ImageSource:
    """Build the image list: None -> bundled samples; a folder -> its images, recursively, sorted
    by relative path (ImageNet's class folders work); a .csv file -> its path/file/filename/image
    column (else the first), relative to the file; another file -> one path per line (# comments);
    a list of paths -> those. List order is kept. `limit` keeps a seeded random subset, in order."""
    if source is None:
        found = _bundled_samples()
    elif isinstance(source, (list, tuple)):
        found = ImageSource("list", None, tuple(str(Path(p).absolute()) for p in source))
    else:
        path = Path(source)
        if path.is_dir():
            found = _folder(path)
        elif path.is_file():
            found = _list_file(path)
        else:
            raise NeuronscopeError(f"no such image folder or list file: {source}")
    if not found.ids:
        raise NeuronscopeError(f"no images found in {source}")
    if limit is not None:
        if limit < 1:
            raise NeuronscopeError(f"limit must be at least 1, got {limit}")
        if limit < len(found.ids):
            keep = np.sort(np.random.default_rng(seed).choice(len(found.ids), size=limit, replace=False))
            found = ImageSource(found.kind, found.root, tuple(found.ids[i] for i in keep), found.arrays)
    return found


def open_item(kind: str, root: str | None, image_id: str, arrays: dict | None = None):
    """The file path (or bundled array) of one image id of a source of this kind and root."""
    if kind == "samples":
        arrays = arrays or _bundled_samples().arrays
        if image_id not in arrays:
            raise NeuronscopeError(f"unknown bundled sample image: {image_id}")
        return arrays[image_id]
    if kind == "folder":
        return os.path.join(root, image_id)
    return image_id


def _folder(root: Path) -> ImageSource:
    ids = sorted(path.relative_to(root).as_posix() for path in list_images(root))
    return ImageSource("folder", str(root.absolute()), tuple(ids))


def _list_file(path: Path) -> ImageSource:
    try:
        return _read_list_file(path)
    except UnicodeDecodeError as exc:
        raise NeuronscopeError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save the list as "
                               "UTF-8") from None


def _read_list_file(path: Path) -> ImageSource:
    base = path.absolute().parent
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: a byte-order mark is not a name
        if path.suffix.lower() == ".csv":
            rows = list(csv.reader(handle))
            if not rows:
                raise NeuronscopeError(f"empty image list: {path}")
            header = [cell.strip().lower() for cell in rows[0]]
            column = next((header.index(name) for name in _PATH_COLUMNS if name in header), 0)
            entries = [row[column] for row in rows[1:] if len(row) > column and row[column].strip()]
        else:
            entries = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    return ImageSource("list", str(path.absolute()), tuple(str(base / entry.strip()) for entry in entries))


@functools.cache
def _bundled_samples() -> ImageSource:
    arrays = {}
    for name, tensor in sample_images():
        arrays[name] = (tensor.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).contiguous().numpy()
    return ImageSource("samples", None, tuple(sorted(arrays)), arrays)
