"""Curve extraction by attribution: which pixels make a layer's curve units fire.

    curve_map = extract_curves(model, image)          # (H, W) in [0, 1], image (3, H, W) in [0, 1]

Definition (method "linearized", the default; chosen on the benchmark, see `bench`): with a_u(p)
the pre-activation of curve unit u at position p of the layer, the map at pixel q is

    | sum_c (x_c(q) - b_c(q)) * d/dx_c(q) [ sum_u sum_p relu(a_u(p)) * a_u^lin(p) ] |

where a^lin is the unit computed with the path from the input linearised (`ns.linearized()`:
ReLUs become identities, max-pools average-pools), relu(a_u(p)) the unit's actual activation (a
constant weight) and b the image blurred with sigma `_BASELINE_SIGMA` px; the result is blurred with
sigma `_SMOOTH` px, which removes the grid of the layer's stride from it. That is the attribution
of every unit's spatial activation, weighted by how strongly it fires, to the pixels' local
contrast: each firing curve unit projects its input weights back onto the ink that drove it, and a
pixel scores high when it pushes firing curve units up or down, whatever the ink's polarity. The
path is linearised because EfficientNet's ReLU6 units saturate on high-contrast ink, which makes
plain gradients vanish exactly on the curves. The other methods (measured in the README):

- "gradient": the length over colour channels of dF/dx, F = sum_u sum_p relu(a_u(p)) (saliency);
- "activation": the same for F = sum_u sum_p relu(a_u(p))^2 / 2;
- "grad_x_input": |sum_c dF/dx_c * (x_c - b_c)|;
- "integrated": integrated gradients of F from b to x (`_IG_STEPS` steps), |sum over channels|.

Geometry: the image is padded by reflection by half a receptive field (rounded up to the layer's
stride) on every side and to a multiple of the stride, so curves at the border have context and
every convolution pads as it does for standard sizes. Images larger than `tile` px are computed
in tiles whose offsets and sizes are multiples of the stride and which overlap by a whole receptive
field; only each tile's core is kept. A core pixel's gradient then comes only from positions whose
whole receptive field lies in the tile, so a tiled map equals the untiled one up to float rounding
(no seams).
"""

from __future__ import annotations

import math
import weakref

import numpy as np
import torch
import torch.nn.functional as F

from neuronscope.circuits.expanded import unit_list
from neuronscope.errors import NeuronscopeError
from neuronscope.models.ops import linearized

METHODS = ("linearized", "gradient", "activation", "grad_x_input", "integrated")
DEFAULT_METHOD = "linearized"
_BASELINE_SIGMA = 8.0
_IG_STEPS = 8
_POWER = 1.0     # "linearized": each unit's attribution weighted by its activation to this power
_SMOOTH = 2.0    # "linearized": the map is blurred with this sigma (px): it removes the layer's stride grid
_FAMILIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def family_of(model, layer: str | None = None, kind: str = "curve"):
    """`find_family(model, layer, kind)`, computed once per model object, layer and kind."""
    from neuronscope.families import find_family

    layer = layer or model.default_layer
    cache = _FAMILIES.setdefault(model, {})
    if (layer, kind) not in cache:
        cache[layer, kind] = find_family(model, layer, kind)
    return cache[layer, kind]


def curve_units(model, layer: str | None = None, units=None) -> tuple[str, list[int]]:
    """(layer, units): `units` as given, else the members of the layer's curve family."""
    layer = layer or model.default_layer
    if layer is None:
        raise NeuronscopeError(f"{model.name} has no default curve layer; give one")
    model.check_layers([layer])
    if units is None:
        units = [m.unit for m in family_of(model, layer).members]
        if not units:
            raise NeuronscopeError(f"find_family found no curve units in {model.name} {layer}; pass units=")
    if not len(units):
        raise NeuronscopeError("units must not be empty")
    return layer, unit_list(model, layer, units)  # units the layer has


def extract_curves(model, image: torch.Tensor, layer: str | None = None, units=None, *,
                   method: str = DEFAULT_METHOD, tile: int = 704) -> torch.Tensor:
    """(H, W) curve map in [0, 1] of a (3, H, W) image in [0, 1] (H, W >= 64): the attribution of
    the curve units' activation to the pixels (see the module docstring). `units` default to the
    layer's curve family (`find_family`, cached); `tile` bounds the side of the region computed at
    once. A map that is zero everywhere (the units never respond) is an error, not a result."""
    raw = curve_attribution(model, image, layer, units, method=method, tile=tile)
    top = float(raw.max())
    if not top > 0:
        raise NeuronscopeError("the curve units do not respond anywhere in this image: the map is zero")
    return raw / top


def curve_attribution(model, image: torch.Tensor, layer: str | None = None, units=None, *,
                      method: str = DEFAULT_METHOD, tile: int = 704) -> torch.Tensor:
    """The unnormalised map behind `extract_curves` (non-negative, (H, W), float32 on the CPU)."""
    if method not in METHODS:
        raise NeuronscopeError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(image, torch.Tensor) or image.dim() != 3 or image.shape[0] != 3:
        raise NeuronscopeError(f"image must be a (3, H, W) tensor, got {getattr(image, 'shape', type(image))}")
    layer, units = curve_units(model, layer, units)
    h, w = image.shape[-2:]
    if h < 64 or w < 64:
        raise NeuronscopeError(f"images must be at least 64 x 64 px, got {h} x {w}")
    rf = model.receptive_field(layer, (max(h, 64), max(w, 64)))
    stride, field = max(rf.stride), max(rf.size)
    pad = _ceil_to(field / 2, stride)
    margin = _ceil_to(field, stride)
    if tile < 2 * margin + stride:
        raise NeuronscopeError(f"tile must be at least {2 * margin + stride} px for {layer}")
    x = image.float().clamp(0, 1).unsqueeze(0)
    hp, wp = _ceil_to(h + 2 * pad, stride), _ceil_to(w + 2 * pad, stride)
    x = _reflect(x, (pad, hp - h - pad, pad, wp - w - pad))
    fn = _METHOD_FNS[method]
    out = torch.zeros(hp, wp)
    core = _floor_to(tile - 2 * margin, stride)
    if hp <= tile and wp <= tile:
        out = fn(model, layer, units, x)
    else:
        for y0 in range(0, hp, core):
            for x0 in range(0, wp, core):
                ty, tx = max(0, y0 - margin), max(0, x0 - margin)
                piece = fn(model, layer, units, x[..., ty:min(hp, y0 + core + margin), tx:min(wp, x0 + core + margin)])
                cy, cx = min(core, hp - y0), min(core, wp - x0)
                out[y0:y0 + cy, x0:x0 + cx] = piece[y0 - ty:y0 - ty + cy, x0 - tx:x0 - tx + cx]
    return out[pad:pad + h, pad:pad + w].contiguous()


def _ceil_to(value: float, step: int) -> int:
    return math.ceil(value / step) * step


def _floor_to(value: float, step: int) -> int:
    return max(step, int(value // step) * step)


def _reflect(x: torch.Tensor, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """Reflection padding (top, bottom, left, right) of any width (repeated for pads wider than the image)."""
    top, bottom, left, right = pads
    while top or bottom or left or right:
        h, w = x.shape[-2:]
        t, b, lf, r = min(top, h - 1), min(bottom, h - 1), min(left, w - 1), min(right, w - 1)
        x = F.pad(x, (lf, r, t, b), mode="reflect")
        top, bottom, left, right = top - t, bottom - b, left - lf, right - r
    return x


def _response(model, layer: str, units: list[int], x: torch.Tensor, power: int = 1) -> torch.Tensor:
    acts = model.capture(x, [layer], pre_relu=True)[layer][:, units]
    r = torch.relu(acts)
    return (r.sum() if power == 1 else (r * r).sum() / 2)


def _grad(model, layer, units, x, power: int = 1) -> torch.Tensor:
    x = x.to(model.device).detach().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(_response(model, layer, units, x, power), x)
    return g.detach().cpu()


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W) with reflected borders."""
    r = math.ceil(3 * sigma)
    k = torch.exp(-torch.arange(-r, r + 1, dtype=x.dtype) ** 2 / (2 * sigma * sigma))
    k = (k / k.sum()).to(x.device)
    c = x.shape[1]
    x = F.conv2d(_reflect(x, (0, 0, r, r)), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(_reflect(x, (r, r, 0, 0)), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _gradient(model, layer, units, x):
    return _grad(model, layer, units, x).norm(dim=1)[0]


def _activation(model, layer, units, x):
    return _grad(model, layer, units, x, power=2).norm(dim=1)[0]


def _grad_x_input(model, layer, units, x):
    base = _blur(x, _BASELINE_SIGMA)
    return (_grad(model, layer, units, x) * (x - base)).sum(1)[0].abs()


def _linearized(model, layer, units, x):
    with torch.no_grad():
        weight = torch.relu(model.capture(x.to(model.device), [layer], pre_relu=True)[layer][:, units]) ** _POWER
    leaf = x.to(model.device).detach().requires_grad_(True)
    with linearized(), torch.enable_grad():
        linear = model.capture(leaf, [layer], pre_relu=True)[layer][:, units]
        (g,) = torch.autograd.grad((linear * weight).sum(), leaf)
    out = (g.detach().cpu() * (x - _blur(x, _BASELINE_SIGMA))).sum(1, keepdim=True).abs()
    return _blur(out, _SMOOTH)[0, 0] if _SMOOTH else out[0, 0]


def _integrated(model, layer, units, x):
    base = _blur(x, _BASELINE_SIGMA)
    total = torch.zeros_like(x)
    for k in range(_IG_STEPS):
        total += _grad(model, layer, units, base + (k + 0.5) / _IG_STEPS * (x - base))
    return (total / _IG_STEPS * (x - base)).sum(1)[0].abs()


_METHOD_FNS = {"linearized": _linearized, "gradient": _gradient, "activation": _activation,
               "grad_x_input": _grad_x_input, "integrated": _integrated}


def to_numpy(curve_map: torch.Tensor) -> np.ndarray:
    return curve_map.detach().cpu().numpy().astype(np.float64)
