"""The user's own model by name: `path/to/file.py:build` or `package.module:build`.

`build()` returns a `neuronscope.Model`, a bare `nn.Module` (wrapped; images reach it as given:
RGB in [0, 1]) or an `(nn.Module, preprocess)` pair. A `build(weights=None)` parameter receives
`--weights` / `load_model(..., weights=PATH)`. These names work wherever a model name does
(`load_model`, every command's MODEL / --model, results that record their model).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from torch import nn

from neuronscope.errors import NeuronscopeError
from neuronscope.models.base import Model
from neuronscope.models.wrap import wrap


def is_user_spec(name: str) -> bool:
    """`FILE.py:FUNCTION` or `package.module:FUNCTION`."""
    target, sep, func = str(name).rpartition(":")
    return bool(sep and target and func.isidentifier())


def load_user_model(spec: str, weights=None) -> Model:
    """Build the model named by `spec` (see the module docstring)."""
    target, _, func_name = spec.rpartition(":")
    module = _import(target, spec)
    build = getattr(module, func_name, None)
    if not callable(build):
        raise NeuronscopeError(f"{spec}: {target} has no function {func_name!r}")
    kwargs = {}
    if weights is not None:
        try:
            params = inspect.signature(build).parameters
        except (TypeError, ValueError):
            params = {}
        if "weights" not in params:
            raise NeuronscopeError(f"{spec}: weights were given but {func_name}() takes no `weights` argument; "
                                   "load them inside it")
        kwargs["weights"] = str(weights)
    try:
        built = build(**kwargs)
    except NeuronscopeError:
        raise
    except Exception as exc:  # noqa: BLE001 (the user's code: one line, with what to run for the traceback)
        raise NeuronscopeError(f"{spec}: {func_name}() failed ({type(exc).__name__}: {exc}); call it in Python "
                               "for the traceback") from None
    return as_model(built, spec)


def as_model(obj, name: str) -> Model:
    """A `Model` from what a build function returned."""
    if isinstance(obj, Model):
        if obj.name in ("model", "wrapped"):
            obj.name = name
        return obj
    if isinstance(obj, nn.Module):
        return wrap(obj, name=name)
    if (isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], nn.Module)
            and (obj[1] is None or callable(obj[1]))):
        return wrap(obj[0], preprocess=obj[1], name=name)
    raise NeuronscopeError(f"{name} returned {type(obj).__name__}; expected a neuronscope.Model, an nn.Module "
                           "or an (nn.Module, preprocess) pair")


def _import(target: str, spec: str):
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise NeuronscopeError(f"{spec}: no such file {target}")
        if path.suffix != ".py":
            raise NeuronscopeError(f"{spec}: {target} is not a Python file (.py)")
        name = f"neuronscope_user_{abs(hash(str(path)))}"
        if name in sys.modules:
            return sys.modules[name]
        loader = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module  # so dataclasses and pickling inside it work
        try:
            loader.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 (the user's code)
            del sys.modules[name]
            raise NeuronscopeError(f"{spec}: importing {target} failed ({type(exc).__name__}: {exc})") from None
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name != target.split(".")[0] or str(Path.cwd()) in sys.path:
            raise NeuronscopeError(f"{spec}: cannot import {target} ({exc})") from None
    sys.path.insert(0, str(Path.cwd()))  # `neuronscope` run as a script does not see the working folder
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        raise NeuronscopeError(f"{spec}: cannot import {target} ({exc})") from None
    finally:
        sys.path.remove(str(Path.cwd()))
