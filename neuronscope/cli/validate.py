"""Argument types for the command line: one per kind of option, each with its range.

Use them as argparse `type=` functions, so a bad value is refused where it is read, with the
option's name, before any work starts ("error: argument --size: must be ..., got 0"):

    p.add_argument("--size", type=validate.image_size, default=224)
    p.add_argument("--batch-size", type=validate.positive_int, default=32)
    p.add_argument("--lr", type=validate.positive_float, default=0.05)
    p.add_argument("--out", type=validate.out_dir, required=True)
    p.add_argument("--device", type=validate.device)
    p.add_argument("--position", type=validate.position)          # "Y,X"; "-1,3" is read as a value
    p.add_argument("--orientations", type=validate.float_list())  # "0,22.5,45"
    p.add_argument("--thumb", type=validate.int_range(8, 1024))

Each function raises `argparse.ArgumentTypeError`, which argparse turns into one `error:` line
naming the option (exit code 2). Values that need the model (layer names, unit numbers) are
checked later by the code that knows them.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

# Input images are square sides in pixels. Below MIN_IMAGE_SIZE the deepest layers of the zoo's
# models have no positions left; above MAX_IMAGE_SIZE one image's activations run into gigabytes.
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 32, 4096
# Tiles and thumbnails drawn into figures (pixels).
MIN_TILE, MAX_TILE = 8, 1024
MAX_SEED = 2**32 - 1  # numpy's and torch's seeds both accept this range

_Error = argparse.ArgumentTypeError


def _named(name: str):
    def decorate(func):
        func.__name__ = func.__qualname__ = name
        return func

    return decorate


def _text(text) -> str:
    text = str(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Error(f"{text.encode('utf-8', 'surrogateescape')!r} is not valid UTF-8") from None
    return text.strip()


def _int(text) -> int:
    text = _text(text)
    try:
        return int(text)
    except ValueError:
        raise _Error(f"expected a whole number, got {text!r}") from None


def _float(text) -> float:
    text = _text(text)
    try:
        value = float(text)
    except ValueError:
        raise _Error(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _Error(f"expected a finite number, got {text!r}")
    return value


def int_range(lo: int | None = None, hi: int | None = None, what: str = "a whole number"):
    """A type accepting whole numbers in [lo, hi] (either bound may be None: unbounded)."""

    @_named(f"int_range({lo}, {hi})")
    def parse(text) -> int:
        value = _int(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise _Error(f"must be {what} {_bounds(lo, hi)}, got {value}")
        return value

    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, low_open: bool = False,
                high_open: bool = False, what: str = "a number"):
    """A type accepting finite numbers between lo and hi (inclusive unless `*_open`; None: unbounded)."""

    @_named(f"float_range({lo}, {hi})")
    def parse(text) -> float:
        value = _float(text)
        below = lo is not None and (value <= lo if low_open else value < lo)
        above = hi is not None and (value >= hi if high_open else value > hi)
        if below or above:
            raise _Error(f"must be {what} {_bounds(lo, hi, low_open, high_open)}, got {value:g}")
        return value

    return parse


def _bounds(lo, hi, low_open: bool = False, high_open: bool = False) -> str:
    def fmt(v):
        return str(v) if isinstance(v, int) else f"{v:g}"

    if lo is not None and hi is not None:
        return f"in {'(' if low_open else '['}{fmt(lo)}, {fmt(hi)}{')' if high_open else ']'}"
    if lo is not None:
        return f"{'>' if low_open else '>='} {fmt(lo)}"
    return f"{'<' if high_open else '<='} {fmt(hi)}"


positive_int = _named("positive_int")(int_range(1, None, "a whole number"))
nonnegative_int = _named("nonnegative_int")(int_range(0, None, "a whole number"))
batch_size = _named("batch_size")(int_range(1, 4096, "a batch size"))
seed = _named("seed")(int_range(0, MAX_SEED, "a seed"))
image_size = _named("image_size")(int_range(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE, "an image side in pixels"))
tile_size = _named("tile_size")(int_range(MIN_TILE, MAX_TILE, "a tile side in pixels"))
finite_float = _named("finite_float")(float_range(what="a finite number"))
positive_float = _named("positive_float")(float_range(0, None, low_open=True))
nonnegative_float = _named("nonnegative_float")(float_range(0, None))
probability = _named("probability")(float_range(0, 1, what="a probability"))
port = _named("port")(int_range(0, 65535, "a TCP port (0: any free one)"))


def int_list(lo: int | None = None, hi: int | None = None, *, length: int | None = None, unique: bool = False):
    """A type for comma-separated whole numbers ("3,17"), each in [lo, hi]; `length`: exactly that many."""
    item = int_range(lo, hi)

    @_named("int_list")
    def parse(text) -> list[int]:
        values = [item(v) for v in _items(text)]
        _check_count(values, length, unique)
        return values

    return parse


def float_list(lo: float | None = None, hi: float | None = None, *, low_open: bool = False,
               high_open: bool = False, length: int | None = None, allow_inf: bool = False):
    """A type for comma-separated finite numbers ("0,22.5,-45"), each between lo and hi (as in
    `float_range`); `allow_inf` also accepts inf (e.g. a straight line's radius)."""
    item = float_range(lo, hi, low_open=low_open, high_open=high_open)

    @_named("float_list")
    def parse(text) -> list[float]:
        values = [math.inf if allow_inf and v.lower() in ("inf", "+inf") else item(v) for v in _items(text)]
        _check_count(values, length, False)
        return values

    return parse


def _items(text) -> list[str]:
    items = [v.strip() for v in _text(text).split(",")]
    if not items or any(not v for v in items):
        raise _Error(f"expected comma-separated values, got {text!r}")
    return items


def _check_count(values: list, length: int | None, unique: bool) -> None:
    if length is not None and len(values) != length:
        raise _Error(f"expected {length} comma-separated values, got {len(values)}")
    if unique and len(set(values)) != len(values):
        raise _Error(f"values must not repeat, got {','.join(map(str, values))}")


@_named("sha256")
def sha256(text) -> str:
    """A SHA-256 digest: 64 hexadecimal digits (case-insensitive)."""
    text = _text(text).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise _Error(f"a SHA-256 is 64 hexadecimal digits, got {text!r}")
    return text


@_named("position")
def position(text) -> tuple[int, int]:
    """"Y,X": a position in a layer's grid (non-negative; checked against the grid later)."""
    try:
        y, x = int_list(0, None, length=2)(text)
    except _Error as exc:
        raise _Error(f"a position is Y,X with whole numbers >= 0 ({exc})") from None
    return y, x


def _path(text) -> Path:
    text = _text(text)
    if not text:
        raise _Error("expected a path, got an empty string")
    return Path(text).expanduser()


@_named("existing_file")
def existing_file(text) -> Path:
    """A file that exists and can be read."""
    path = _path(text)
    if path.is_dir():
        raise _Error(f"{path} is a folder, expected a file")
    if not path.is_file():
        raise _Error(f"no such file: {path}")
    if not os.access(path, os.R_OK):
        raise _Error(f"cannot read {path} (permission denied)")
    return path


@_named("existing_dir")
def existing_dir(text) -> Path:
    """A folder that exists."""
    path = _path(text)
    if path.is_file():
        raise _Error(f"{path} is a file, expected a folder")
    if not path.is_dir():
        raise _Error(f"no such folder: {path}")
    return path


@_named("existing_path")
def existing_path(text) -> Path:
    """A file or a folder that exists (e.g. an image folder or a list of images)."""
    path = _path(text)
    if not path.exists():
        raise _Error(f"no such file or folder: {path}")
    if path.is_file() and not os.access(path, os.R_OK):
        raise _Error(f"cannot read {path} (permission denied)")
    return path


def _check_creatable(path: Path) -> None:
    """The nearest existing ancestor of `path` must be a writable folder."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise _Error(f"cannot create {path}: {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _Error(f"cannot create {path}: {parent} is not writable")


@_named("out_dir")
def out_dir(text) -> Path:
    """An output folder: existing (writable) or creatable; never an existing file."""
    path = _path(text)
    if path.exists() and not path.is_dir():
        raise _Error(f"{path} exists and is not a folder")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise _Error(f"{path} is not writable")
    else:
        _check_creatable(path)
    return path


def out_file(*suffixes: str):
    """A type for an output file: not a folder, in a creatable place, ending in one of `suffixes`
    (".png", ...; case-insensitive; none given: any)."""
    allowed = tuple(s.lower() for s in suffixes)

    @_named("out_file")
    def parse(text) -> Path:
        path = _path(text)
        if path.is_dir():
            raise _Error(f"{path} is a folder, expected a file name")
        if allowed and path.suffix.lower() not in allowed:
            raise _Error(f"{path.name} must end in {', '.join(allowed)}")
        if path.exists() and not os.access(path, os.W_OK):
            raise _Error(f"{path} is not writable")
        _check_creatable(path)
        return path

    return parse


@_named("device")
def device(text) -> str:
    """A torch device that exists on this machine: cpu, cuda, cuda:N, mps."""
    import torch

    text = _text(text)
    try:
        d = torch.device(text)
    except (RuntimeError, ValueError):
        raise _Error(f"unknown device {text!r}; use cpu, cuda, cuda:N or mps") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise _Error(f"{text}: CUDA is not available here (torch {torch.__version__}, "
                         f"{'built without CUDA' if torch.version.cuda is None else 'no usable GPU'})")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise _Error(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif d.type == "mps":
        if not torch.backends.mps.is_available():
            raise _Error(f"{text}: MPS (Apple GPU) is not available here")
    elif d.type != "cpu":
        raise _Error(f"unsupported device {text!r}; use cpu, cuda, cuda:N or mps")
    return str(d)
