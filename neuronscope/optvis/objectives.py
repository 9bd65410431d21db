"""Objectives: losses (lower is better) that a feature visualisation minimises.

An `Objective` knows the layers it reads (`layers`) and maps `acts` ({layer: (N, C, H, W)
activation}) and the (N, 3, H, W) image being optimised to one loss per batch element, shape (N,).
Objectives compose: `a + b`, `a - b`, `2 * a`, `a / 2`, `-a`, `sum([...])`, and `a * b`, the product of
the two objectives' values as lucid's (loss `-(loss_a * loss_b)`: maximises the product of two
units' activations). Unit objectives return
minus the activation (so minimising maximises the unit); regularisers and `diversity` return a
penalty. `batch=` (an index or a list of indices) restricts an objective to those images and
gives 0 for the others, so one optimisation can render many objectives at once.

Unit objectives read the activation as captured. `activation="relu"` / `"relu6"` applies that
non-linearity to the values read (capture with `pre_relu=True` then), and `redirect=True` makes
its gradient the redirected one of `neuronscope.optvis.relu` (off by default: for analysis an
objective should be the plain function).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from numbers import Integral, Real

import torch
import torch.nn.functional as F

from neuronscope.errors import NeuronscopeError
from neuronscope.neurons import Neuron, parse_neuron
from neuronscope.optvis.relu import activate

Acts = Mapping[str, torch.Tensor]
Batch = int | Sequence[int] | None


class Objective:
    """A loss per batch element; see the module docstring.

    `batch_size` is the least number of images it needs (1 + the largest `batch=` index).
    """

    def __init__(self, fn: Callable[[Acts, torch.Tensor | None], torch.Tensor], layers: Iterable[str] = (),
                 name: str = "objective", batch_size: int = 1):
        self.fn = fn
        self.layers = frozenset(layers)
        self.name = name
        self.batch_size = batch_size

    def __call__(self, acts: Acts, image: torch.Tensor | None = None) -> torch.Tensor:
        return self.fn(acts, image)

    def __repr__(self):
        return f"<Objective {self.name}>"

    def _join(self, other: "Objective", sign: float, op: str) -> "Objective":
        a, b = self, other
        return Objective(lambda acts, image: a(acts, image) + sign * b(acts, image), a.layers | b.layers,
                         f"{a.name} {op} {b.name}", max(a.batch_size, b.batch_size))

    def __add__(self, other):
        if isinstance(other, Objective):
            return self._join(other, 1.0, "+")
        if isinstance(other, Real) and other == 0:  # so sum() works
            return self
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other):
        return self._join(other, -1.0, "-") if isinstance(other, Objective) else NotImplemented

    def __mul__(self, k):
        if isinstance(k, Objective):  # lucid's product of objectives: of the values (minus the losses)
            a, b = self, k
            return Objective(lambda acts, image: -(a(acts, image) * b(acts, image)), a.layers | b.layers,
                             f"({a.name}) * ({b.name})", max(a.batch_size, b.batch_size))
        if not isinstance(k, Real):
            return NotImplemented
        a, k = self, float(k)
        return Objective(lambda acts, image: k * a(acts, image), a.layers, f"{k:g} * ({a.name})", a.batch_size)

    __rmul__ = __mul__

    def __truediv__(self, k):
        return self * (1.0 / k) if isinstance(k, Real) else NotImplemented

    def __neg__(self):
        return -1 * self


def _rows(batch: Batch) -> list[int] | None:
    if batch is None:
        return None
    rows = list(dict.fromkeys([int(batch)] if isinstance(batch, Integral) else [int(b) for b in batch]))
    if not rows or min(rows) < 0:
        raise NeuronscopeError(f"batch indices must be non-negative, got {batch!r}")
    return rows


def _atom(name: str, layers: Iterable[str], batch: Batch,
          value: Callable[[Acts, torch.Tensor | None, list[int]], torch.Tensor]) -> Objective:
    """An objective computing `value(acts, image, rows)` (one loss per row) on the rows of `batch`
    (all rows when None) and 0 on the others."""
    rows = _rows(batch)

    def fn(acts, image):
        ref = next(iter(acts.values())) if acts else image
        if ref is None:
            raise NeuronscopeError(f"objective {name} got neither activations nor an image")
        n = ref.shape[0]
        if rows is None:
            return value(acts, image, list(range(n)))
        if max(rows) >= n:
            raise NeuronscopeError(f"objective {name} targets image {max(rows)} of a batch of {n}")
        out = torch.zeros(n, dtype=ref.dtype, device=ref.device)
        return out.index_put((torch.tensor(rows, device=ref.device),), value(acts, image, rows))

    tag = name if rows is None else f"{name}[batch={rows[0] if len(rows) == 1 else rows}]"
    return Objective(fn, layers, tag, 1 + max(rows) if rows else 1)


def _layer(acts: Acts, layer: str) -> torch.Tensor:
    if layer not in acts:
        raise NeuronscopeError(f"no activation captured for layer {layer!r}")
    t = acts[layer]
    return t if t.dim() == 4 else t[:, :, None, None]  # (N, C) outputs (logits) as a 1x1 grid


def _position(t: torch.Tensor, position: tuple[int, int] | None) -> tuple[int, int]:
    """The grid's central position ((H - 1) // 2, (W - 1) // 2, as `ReceptiveField.central_position`),
    or `position` clipped to the grid."""
    h, w = t.shape[-2:]
    if position is None:
        return (h - 1) // 2, (w - 1) // 2
    return min(max(int(position[0]), 0), h - 1), min(max(int(position[1]), 0), w - 1)


def neuron(layer: str, unit: int, position: tuple[int, int] | None = None, batch: Batch = None,
           activation: str | None = None, redirect: bool = False) -> Objective:
    """Minus the activation of `unit` at one position: the grid's central position ((H - 1) // 2,
    (W - 1) // 2) by default, else `position` (y, x), clipped to the grid (the render loop's
    random transforms change the grid by a position or two)."""

    def value(acts, image, rows):
        t = _layer(acts, layer)
        y, x = _position(t, position)
        return -activate(t[rows, unit, y, x], activation, redirect)

    at = "" if position is None else f"@{position[0]},{position[1]}"
    return _atom(f"neuron({layer}:{unit}{at})", [layer], batch, value)


def channel(layer: str, unit: int, batch: Batch = None, activation: str | None = None,
            redirect: bool = False) -> Objective:
    """Minus the mean activation of `unit` over all positions."""

    def value(acts, image, rows):
        return -activate(_layer(acts, layer)[rows, unit], activation, redirect).mean(dim=(-2, -1))

    return _atom(f"channel({layer}:{unit})", [layer], batch, value)


def direction(layer: str, vector, position: tuple[int, int] | str | None = None, batch: Batch = None,
              activation: str | None = None, redirect: bool = False) -> Objective:
    """Minus the dot product of the activation vector (over units) with `vector`: averaged over
    all positions when `position` is None, at the grid's centre for "center", else at `position`
    (y, x). `vector` is (C,), or (K, C) with one vector per targeted image (row k for the k-th
    index of `batch`, or for image k when `batch` is None), so one optimisation renders K
    directions at once."""
    vec = torch.as_tensor(vector, dtype=torch.float32)
    if vec.dim() not in (1, 2):
        raise NeuronscopeError(f"a direction is (C,) or (K, C), got shape {tuple(vec.shape)}")
    vec = vec.reshape(-1, vec.shape[-1])

    def value(acts, image, rows):
        t = _layer(acts, layer)
        if t.shape[1] != vec.shape[1]:
            raise NeuronscopeError(f"direction has {vec.shape[1]} components but {layer} has {t.shape[1]} units")
        if vec.shape[0] not in (1, len(rows)):
            raise NeuronscopeError(f"{vec.shape[0]} directions for {len(rows)} images")
        if position is not None:
            y, x = _position(t, None if position == "center" else position)
            t = t[..., y:y + 1, x:x + 1]
        t = activate(t[rows], activation, redirect)
        return -torch.einsum("nchw,nc->nhw", t, vec.to(t).expand(len(rows), -1)).mean(dim=(-2, -1))

    objective = _atom(f"direction({layer})", [layer], batch, value)
    if batch is None:  # K directions need K images
        objective.batch_size = vec.shape[0]
    return objective


def neurons(weights: Mapping[Neuron | str | tuple, float], batch: Batch = None, activation: str | None = None,
            redirect: bool = False) -> Objective:
    """A linear combination of neurons: sum of weight * `neuron(...)`. Keys are `Neuron`s,
    ids such as "mixed3b:379@3,3", or (layer, unit) / (layer, unit, (y, x)) tuples."""
    terms = []
    for key, w in weights.items():
        n = parse_neuron(key) if isinstance(key, str) else key if isinstance(key, Neuron) else Neuron(*key)
        terms.append(float(w) * neuron(n.layer, n.unit, n.position, batch, activation, redirect))
    if not terms:
        raise NeuronscopeError("neurons() needs at least one neuron")
    return sum(terms)


def _central_overlap(n: int, m: int) -> tuple[slice, slice]:
    """Slices of two centre-aligned axes of lengths n and m over their common extent."""
    k = min(n, m)
    return slice((n - k) // 2, (n - k) // 2 + k), slice((m - k) // 2, (m - k) // 2 + k)


def spatial(layer: str, field, batch: Batch = None, activation: str | None = None,
            redirect: bool = False) -> Objective:
    """Minus the dot product of the activation with a spatial vector field (C, H, W) (an
    attribution map, a gradient, ...). If the grids differ (random scaling changes the grid)
    the two are aligned at their centres and only the overlap counts."""
    field = torch.as_tensor(field, dtype=torch.float32)
    if field.dim() != 3:
        raise NeuronscopeError(f"a spatial field has shape (C, H, W), got {tuple(field.shape)}")

    def value(acts, image, rows):
        t = _layer(acts, layer)
        if t.shape[1] != field.shape[0]:
            raise NeuronscopeError(f"field has {field.shape[0]} channels but {layer} has {t.shape[1]} units")
        (ty, fy), (tx, fx) = _central_overlap(t.shape[2], field.shape[1]), _central_overlap(t.shape[3], field.shape[2])
        t = activate(t[rows][..., ty, tx], activation, redirect)
        return -(t * field[:, fy, fx].to(t)).sum(dim=(1, 2, 3))

    return _atom(f"spatial({layer})", [layer], batch, value)


def diversity(layer: str, batch: Batch = None, activation: str | None = None) -> Objective:
    """Lucid's diversity penalty among the images of `batch` (all when None): the Gram matrix of
    each image's activation (C x C, summed over positions) is normalised to unit Frobenius norm;
    image i's loss is the sum of its cosine similarities to the other k - 1 images divided by k,
    so the losses add up to lucid's diversity term. Add it, with a positive weight, to a unit
    objective to make the images differ."""

    def value(acts, image, rows):
        t = _layer(acts, layer)[rows].flatten(2)
        grams = F.normalize(torch.bmm(t, t.transpose(1, 2)).flatten(1), dim=1, eps=1e-10)
        sims = grams @ grams.T
        return (sims.sum(dim=1) - sims.diagonal()) / len(rows)

    return _atom(f"diversity({layer})", [layer], batch, value)


def _image(image: torch.Tensor | None, name: str) -> torch.Tensor:
    if image is None:
        raise NeuronscopeError(f"regulariser {name} needs the image")
    return image


def l1(constant: float = 0.5, batch: Batch = None) -> Objective:
    """Sum over pixels of |image - constant| (pulls the image towards flat grey)."""

    def value(acts, image, rows):
        return (_image(image, "l1")[rows] - constant).abs().sum(dim=(1, 2, 3))

    return _atom("l1", [], batch, value)


def total_variation(batch: Batch = None) -> Objective:
    """Sum of absolute differences between vertically and horizontally adjacent pixels."""

    def value(acts, image, rows):
        x = _image(image, "total_variation")[rows]
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3))
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
        return dy + dx

    return _atom("total_variation", [], batch, value)


def _box_sum(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, divisor_override=1)


def blur(batch: Batch = None) -> Objective:
    """Lucid's blur_input_each_step: 0.5 * sum (image - stop_gradient(blur(image)))^2 with a 3x3
    box blur (edge pixels averaged over the neighbours that exist). Its gradient is image - blur,
    so a gradient step of size k moves the image a fraction k towards its blurred self."""

    def value(acts, image, rows):
        x = _image(image, "blur")[rows]
        blurred = (_box_sum(x) / _box_sum(torch.ones_like(x[:1, :1]))).detach()
        return 0.5 * ((x - blurred) ** 2).sum(dim=(1, 2, 3))

    return _atom("blur", [], batch, value)
