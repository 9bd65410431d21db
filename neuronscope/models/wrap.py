"""`wrap`: any `torch.nn.Module` as a neuronscope `Model`, read with forward hooks.

At wrap time the network runs once on a black image of `input_size` to list its layers in the
order they finish, with what each returns:

- a module that runs more than once per forward pass (resnet's shared `relu`) gets one layer
  per call, `name#1`, `name#2`, ...; the bare name is refused as ambiguous;
- a token layer, output (N, T, D) with T = prefix + H*W (a vision transformer's blocks), is
  captured as the grid of its patch tokens, (N, D, H, W), with the prefix (class) tokens kept
  apart as the layer `name#cls`, (N, D) (or (N, k, D) for k prefix tokens);
- modules that return something other than a tensor, or never run, are not layers.

Every captured value is a copy, so later in-place operations of the network (`nn.ReLU(inplace=
True)`, `out += identity`) never change it. Receptive fields are measured (the architecture is
not known to neuronscope), exactly and for any input size: see `WrappedModel._geometry`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from neuronscope.errors import NeuronscopeError
from neuronscope.models import ops
from neuronscope.models.base import Model, _hw
from neuronscope.models.linearize import LinearMode

MAX_PROBE = 8192  # largest input side tried when a receptive field does not fit the input
MAX_PREFIX = 8    # most prefix (class, register) tokens looked for in a token layer


@dataclass(frozen=True)
class _Site:
    """Where a layer's value comes from: `call` (1-based) of `module`, the token grid or prefix."""

    module: str
    call: int
    part: str  # "tensor", "grid" or "prefix"
    prefix: int = 0


class WrappedModel(Model):
    """Any `torch.nn.Module`; its layers are its sub-modules (see the module docstring)."""

    def __init__(self, module: nn.Module, preprocess=None, layers=None, labels=None, name="wrapped",
                 input_size: int | tuple[int, int] = 224, prefix_tokens: int | None = None):
        super().__init__(module, {"logits": None}, preprocess, labels)
        self.name = name
        self.input_size = _hw(input_size)[0]
        self._fields: dict = {}
        sites, repeated = self._trace(_hw(input_size), prefix_tokens)
        if layers is None:
            layers = {n: None for n in sites if n != "logits"}
        elif not isinstance(layers, dict):
            layers = {n: None for n in layers}
        modules = dict(module.named_modules())
        for n, act in layers.items():
            if n in repeated:
                raise NeuronscopeError(f"{n!r} runs {repeated[n]} times in one forward pass; name one call: "
                                       + ", ".join(f"{n}#{i + 1}" for i in range(repeated[n])))
            if n not in sites:
                base = n.split("#")[0]
                why = ("has no sub-module" if base not in modules else
                       "never runs or returns no tensor in a forward pass of" if n == base else "has no layer")
                raise NeuronscopeError(f"{n!r}: the module {why} {name!r}; layers are: {', '.join(sites)}")
            if act not in ops.ACTIVATIONS:
                raise NeuronscopeError(f"unknown activation {act!r} for {n!r}; known: "
                                       + ", ".join(str(a) for a in ops.ACTIVATIONS if a))
        order = list(sites)
        self.activations = {n: layers[n] for n in sorted(layers, key=order.index)} | {"logits": None}
        self._sites = {n: sites[n] for n in self.activations if n != "logits"}

    # -- the layers ------------------------------------------------------------------
    def _trace(self, size, prefix_tokens):
        """Run once on a black image; returns layer name -> _Site in order of completion, and the
        modules that run more than once (name -> calls)."""
        finished: list[tuple[str, int, object]] = []
        calls: dict[str, int] = {}

        def hook(name):
            def record(_m, _i, out):
                calls[name] = calls.get(name, 0) + 1
                finished.append((name, calls[name], out.shape if isinstance(out, torch.Tensor) else None))
            return record

        handles = [m.register_forward_hook(hook(n)) for n, m in self.net.named_modules() if n and n != "logits"]
        try:
            with torch.no_grad():
                self.net(self.preprocess(torch.zeros(1, 3, *size, device=self.device)))
        except Exception as exc:  # noqa: BLE001 (any failure of the user's module)
            raise NeuronscopeError(f"the model fails on a (1, 3, {size[0]}, {size[1]}) input, so its layers cannot "
                                   f"be listed ({type(exc).__name__}: {exc}); pass input_size=") from None
        finally:
            for h in handles:
                h.remove()
        sites: dict[str, _Site] = {}
        for name, call, shape in finished:
            if shape is None:
                continue
            base = name if calls[name] == 1 else f"{name}#{call}"
            k = _prefix(shape, size, prefix_tokens) if len(shape) == 3 else None
            if k is None:
                sites[base] = _Site(name, call, "tensor")
            else:
                sites[base] = _Site(name, call, "grid", k)
                if k:
                    sites[f"{base}#cls"] = _Site(name, call, "prefix", k)
        sites["logits"] = _Site("", 1, "tensor")
        return sites, {n: c for n, c in calls.items() if c > 1}

    # -- running ---------------------------------------------------------------------
    def _forward(self, x, recorder):
        wanted = {*recorder.wanted, *recorder.interventions}
        by_module: dict[str, list[str]] = {}
        for name, site in self._sites.items():
            if name in wanted:
                by_module.setdefault(site.module, []).append(name)
        modules = dict(self.net.named_modules())
        counts: dict[str, int] = {}
        hw = tuple(x.shape[-2:])

        def hook(module_name):
            def visit(_m, _i, out):
                counts[module_name] = counts.get(module_name, 0) + 1
                names = [n for n in by_module[module_name] if self._sites[n].call == counts[module_name]]
                return self._visit(recorder, names, out, hw) if names else None
            return visit

        handles = [modules[m].register_forward_hook(hook(m)) for m in by_module]
        mode = LinearMode(local=ops.is_local()) if ops.is_linearized() else None
        try:
            if mode is not None:
                with mode:
                    out = self.net(x)
            else:
                out = self.net(x)
            recorder("logits", out)
        finally:
            for h in handles:
                h.remove()

    def _visit(self, recorder, names: list[str], out, hw):
        """Record (a copy of) the layers in `names` from one module call's output; returns the
        output with any interventions applied, or None to leave it unchanged."""
        site = self._sites[names[0]]
        if site.part == "tensor":
            value, changed = _record(recorder, names[0], out)
            return value if changed else None
        k = site.prefix
        prefix, grid = out[:, :k], _to_grid(out[:, k:], hw, names[0])
        changed = False
        for name in sorted(names, key=lambda n: self._sites[n].part != "grid"):
            if self._sites[name].part == "grid":
                grid, c = _record(recorder, name, grid)
            else:
                value, c = _record(recorder, name, prefix[:, 0] if k == 1 else prefix)
                prefix = value[:, None] if k == 1 else value
            changed |= c
        return torch.cat([prefix, grid.flatten(2).transpose(1, 2)], dim=1) if changed else None

    # -- receptive fields ------------------------------------------------------------
    def _geometry(self, layer, h, w):
        """The receptive field, measured: the gradient support of two neighbouring central
        positions (a random mix of their channels, so nothing cancels) with the network
        linearised and global mixing held fixed (`linearized(local=True)`). Where that field does
        not fit the input, the probe grows (doubling, then to `input + m * stride`, which keeps
        every layer's padding as at the input size) until it does; the field found is checked
        against what is visible at the requested size, and anything but a translation-regular
        field is refused. A layer that also depends on the whole input (the gradient without
        the local cut reaches beyond the local field) is flagged `global_dependence`."""
        key = (layer, h, w)
        if key not in self._fields:
            self._fields[key] = self._measure_field(layer, h, w)
        return self._fields[key]

    def _measure_field(self, layer, h, w) -> ops.Geometry:
        grid, boxes = self._support(layer, (h, w), local=True)
        if boxes[0] is None:  # no local path: a global summary (pooled to 1 x 1, an SE gate)
            _, full = self._support(layer, (h, w), local=False)
            if full[0] is None:
                raise NeuronscopeError(f"{layer} does not depend on the input")
            return _geometry(grid, (h, w), (h, w), (0, 0), True)
        size, scale = (h, w), 1
        while not _fits(size, grid, boxes):
            scale *= 2
            size = (h * scale, w * scale)
            if max(size) > MAX_PROBE:
                raise NeuronscopeError(f"the receptive field of {layer} does not fit inputs up to {MAX_PROBE} px "
                                       "(an unrecognised global operation?)")
            grid, boxes = self._probe(layer, size, (h, w))
        stride = tuple(boxes[1][2 * a] - boxes[0][2 * a] for a in range(2))
        if min(stride) <= 0:
            raise NeuronscopeError(f"the positions of {layer} do not move across the input (stride {stride})")
        # Same padding as at (h, w): an input larger by whole strides.
        probe = tuple(n + stride[a] * max(0, math.ceil((size[a] - n) / stride[a])) for a, n in enumerate((h, w)))
        for _ in range(8):
            grid, boxes = (grid, boxes) if probe == size else self._probe(layer, probe, (h, w))
            if _fits(probe, grid, boxes):
                break
            size, probe = probe, tuple(p + s for p, s in zip(probe, stride))
        else:
            raise NeuronscopeError(f"found no input where the receptive field of {layer} fits")
        centre = ((grid[0] - 1) // 2, (grid[1] - 1) // 2)
        measured = tuple(boxes[1][2 * a] - boxes[0][2 * a] for a in range(2))
        if measured != stride:
            raise NeuronscopeError(f"{layer}'s stride differs between input sizes ({stride} vs {measured})")
        field = tuple(boxes[0][2 * a + 1] - boxes[0][2 * a] + 1 for a in range(2))
        start = tuple(boxes[0][2 * a] - centre[a] * stride[a] for a in range(2))
        _, full = self._support(layer, probe, local=False, both=False)
        rf_grid = grid if probe == (h, w) else self.layer_shapes((h, w), [layer])[layer][-2:]
        geom = _geometry(tuple(rf_grid), field, stride, start, full[0] != boxes[0])
        if probe != (h, w):
            self._check_visible(layer, h, w, geom)
        return geom

    def _check_visible(self, layer, h, w, geom: ops.Geometry) -> None:
        """The central field at the requested size, clipped to the input, is what the gradient shows."""
        _, boxes = self._support(layer, (h, w), local=True, both=False)
        cy, cx = (geom.h.n - 1) // 2, (geom.w.n - 1) // 2
        top, left = geom.h.start + cy * geom.h.stride, geom.w.start + cx * geom.w.stride
        bottom, right = top + geom.h.size, left + geom.w.size
        want = (max(top, 0), min(bottom, h) - 1, max(left, 0), min(right, w) - 1)
        if boxes[0] != want:
            raise NeuronscopeError(f"the receptive field of {layer} depends on the input size in a way that cannot be "
                                   f"measured exactly (at {h}x{w} it covers rows/columns {boxes[0]}, expected {want})")

    def _probe(self, layer, size, requested):
        try:
            return self._support(layer, size, local=True)
        except NeuronscopeError:
            raise
        except Exception as exc:  # noqa: BLE001 (any failure of the user's module)
            raise NeuronscopeError(
                f"the receptive field of {layer} is larger than a {requested[0]}x{requested[1]} input, and the model "
                f"fails on the {size[0]}x{size[1]} input needed to measure it ({type(exc).__name__}: {exc})") from None

    def _support(self, layer, size, local: bool, both: bool = True):
        """(grid, boxes): the layer's grid at `size` and the (top, bottom, left, right) input
        pixels (inclusive) reached by the central position and, with `both`, its diagonal
        neighbour; None for a position with no dependence."""
        g = torch.Generator().manual_seed(0)
        x = torch.rand(1, 3, *size, generator=g).to(self.device).requires_grad_(True)
        with ops.linearized(local=local), torch.enable_grad():
            out = self.capture(x, [layer], pre_relu=True)[layer]
        if out.dim() != 4:
            raise NeuronscopeError(f"{layer} has outputs of shape {tuple(out.shape[1:])}; receptive fields need a "
                                   "feature map (C, H, W) or a token grid (N, prefix + H*W, D)")
        mix = (torch.rand(out.shape[1], generator=g) + 0.5).to(out)
        gh, gw = out.shape[-2:]
        positions = [((gh - 1) // 2, (gw - 1) // 2)]
        if both and gh > 1 and gw > 1:
            positions.append(((gh - 1) // 2 + 1, (gw - 1) // 2 + 1))
        boxes = []
        for y, xx in positions:
            if not out.requires_grad:
                boxes.append(None)
                continue
            (grad,) = torch.autograd.grad((out[0, :, y, xx] * mix).sum(), x, retain_graph=True, allow_unused=True)
            support = grad.abs().sum(dim=(0, 1)) > 0 if grad is not None else None
            if support is None or not support.any():
                boxes.append(None)
                continue
            rows, cols = support.any(dim=1).nonzero()[:, 0], support.any(dim=0).nonzero()[:, 0]
            boxes.append((int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())))
        return (int(gh), int(gw)), boxes


def _geometry(grid, size, stride, start, global_dependence: bool) -> ops.Geometry:
    return ops.Geometry(*(ops.Axis(grid[a], stride[a], start[a], size[a]) for a in range(2)),
                        global_dependence=global_dependence)


def _fits(size, grid, boxes) -> bool:
    """Two neighbouring positions whose fields keep a pixel's margin from every border."""
    if len(boxes) < 2 or min(grid) < 2 or boxes[1] is None:
        return False
    return all(b[0] >= 1 and b[2] >= 1 and b[1] <= size[0] - 2 and b[3] <= size[1] - 2 for b in boxes)


def _prefix(shape, size, given: int | None) -> int | None:
    """Prefix tokens of a (N, T, D) output for an input of `size`, or None if it is no token grid."""
    tokens = shape[1]
    for k in ([given] if given is not None else range(MAX_PREFIX + 1)):
        if _grid_of(tokens - k, size) is not None:
            return k
    return None


def _grid_of(count: int, hw) -> tuple[int, int] | None:
    """(rows, columns) of `count` patch tokens laid out with the input's aspect ratio."""
    if count < 1:
        return None
    cols = round(math.sqrt(count * hw[1] / hw[0]))
    if cols < 1 or count % cols or (count // cols) * hw[1] != cols * hw[0]:
        return None
    return count // cols, cols


def _to_grid(tokens: torch.Tensor, hw, name: str) -> torch.Tensor:
    grid = _grid_of(tokens.shape[1], hw)
    if grid is None:
        raise NeuronscopeError(f"{name}: {tokens.shape[1]} patch tokens do not form a grid for a {hw[0]}x{hw[1]} input")
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *grid)


def _record(recorder, name: str, value):
    """Give the recorder a private copy (so in-place operations later in the network cannot
    change what it keeps); returns (value to continue with, whether an intervention changed it)."""
    if name not in recorder.interventions:
        recorder(name, value.clone())
        return value, False
    new = recorder(name, value.clone())
    return new.clone(), True  # the network may modify it in place (an intervention's leaf, too)


def wrap(module: nn.Module, preprocess=None, layers=None, labels=None, name: str = "wrapped",
         input_size: int | tuple[int, int] = 224, prefix_tokens: int | None = None) -> Model:
    """Wrap any `nn.Module` so every neuronscope tool works on it.

    `preprocess`: applied to RGB images in [0, 1] before the module (normalisation). `layers`:
    layer names to expose (default: every sub-module that returns a tensor; see
    `neuronscope.models.wrap` for repeated modules, `name#2`, and token layers), or a dict
    name -> the activation that follows it ("relu", "relu6", "gelu", "silu", "hardswish",
    "hardsigmoid", ... or None), which `capture(pre_relu=False)` applies. `input_size`: a size
    the module accepts, used once to list its layers. `prefix_tokens`: class/register tokens
    before the patch tokens of token layers (default: found from the token count).
    Linearisation (`ns.linearized()`) reaches functional calls (`F.relu(x, inplace=True)`).
    """
    return WrappedModel(module, preprocess, layers, labels, name, input_size, prefix_tokens)
