"""Non-negative matrix factorisation of a layer's activations (after "Curve Detectors" and lucid).

A layer's activations on N images are a (positions, channels) matrix X >= 0 (the values after
the layer's ReLU/ReLU6). NMF writes X ~= W H with W (positions, k) >= 0 and H (k, channels) >= 0:
the k rows of H are channel directions ("neuron groups") and the columns of W, reshaped, are k
spatial maps per image, an unsupervised segmentation. One image gives its own parts; many images
factorised jointly give groups shared across them (e.g. the neurons of butterflies), which are
saved (`Groups.save`) and applied to new images by non-negative least squares onto the fixed
directions (`find_groups`).

    f = factorize(model, image, k=6)                       # one image: f.maps (1, k, h, w)
    f = factorize_images(model, images, k=8)               # jointly; f.groups.save("groups.json")
    maps = find_groups(model, Groups.load("groups.json"), image)  # (k, h, w) for a new image

The solver is scikit-learn's NMF (coordinate descent, Frobenius loss, NNDSVDa initialisation
seeded by `seed`), in float32 (twice as fast as float64, the same error to 4 digits on the
benchmark). Directions are scaled to unit norm (maps carry the magnitude) and ordered by
their share of the reconstruction (largest first), so results do not depend on the solver's order.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from neuronscope.errors import NeuronscopeError

FORMAT = "neuronscope-nmf-groups/1"


@dataclass
class Groups:
    """k channel directions of one layer (rows of `directions`, (k, C), unit norm, >= 0)."""

    model: str
    layer: str
    directions: np.ndarray
    names: list[str] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    def __post_init__(self):
        self.directions = np.asarray(self.directions, dtype=np.float64)
        if self.directions.ndim != 2 or not len(self.directions):
            raise NeuronscopeError(f"groups need a (k, C) array of directions, got shape {self.directions.shape}")
        if (self.directions < 0).any() or not np.isfinite(self.directions).all():
            raise NeuronscopeError("group directions must be finite and non-negative")
        if not self.names:
            self.names = [f"group{i}" for i in range(len(self.directions))]
        if len(self.names) != len(self.directions):
            raise NeuronscopeError(f"{len(self.names)} names for {len(self.directions)} groups")

    def __len__(self) -> int:
        return len(self.directions)

    def index(self, group: int | str) -> int:
        """A group's row from its index or name."""
        if isinstance(group, str) and group in self.names:
            return self.names.index(group)
        try:
            i = int(group)
        except ValueError:
            raise NeuronscopeError(f"no group {group!r}; groups are {', '.join(self.names)}") from None
        if not 0 <= i < len(self):
            raise NeuronscopeError(f"group {i} out of range: there are {len(self)} groups")
        return i

    def top_units(self, group: int | str, n: int = 10) -> list[tuple[int, float]]:
        """The n channels with the largest weight in a group, largest first."""
        row = self.directions[self.index(group)]
        order = np.argsort(-row, kind="stable")[:n]
        return [(int(u), float(row[u])) for u in order]

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": FORMAT, "model": self.model, "layer": self.layer, "names": self.names,
                                    "notes": self.notes, "directions": self.directions.tolist()}) + "\n")
        return path

    @classmethod
    def load(cls, path) -> Groups:
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            raise NeuronscopeError(f"no such groups file: {path}") from None
        except (OSError, ValueError) as exc:
            raise NeuronscopeError(f"cannot read groups file {path}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise NeuronscopeError(f"{path} is not a neuronscope groups file (format {FORMAT})")
        return cls(data["model"], data["layer"], np.asarray(data["directions"], dtype=np.float64),
                   list(data.get("names") or []), dict(data.get("notes") or {}))


@dataclass
class Factorization:
    """NMF of one layer over N images: `maps[i]` is image i's (k, h, w) factor maps on the layer's
    grid, `groups` the k channel directions; `error` is ||X - WH|| / ||X||."""

    groups: Groups
    maps: list[np.ndarray]
    image_sizes: list[tuple[int, int]]
    error: float

    @property
    def k(self) -> int:
        return len(self.groups)

    def upsampled(self, i: int = 0) -> np.ndarray:
        """Image i's (k, H, W) maps resized (bilinear) to the image."""
        return upsample(self.maps[i], self.image_sizes[i])


def upsample(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(k, h, w) layer-grid maps -> (k, H, W), bilinear with cell centres aligned to the image."""
    t = torch.as_tensor(np.asarray(maps, dtype=np.float32))[None]
    return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)[0].clamp_min(0).numpy()


def layer_activations(model, images, layer: str | None = None, batch_size: int = 16
                      ) -> tuple[str, list[np.ndarray]]:
    """The layer's post-activation values for each image ((3, H, W) tensors of any size, one at a
    time, or an (N, 3, H, W) batch, `batch_size` at a time) as (h * w, C) float64 matrices;
    refuses layers with negative values."""
    layer = layer or model.default_layer
    if layer is None:
        raise NeuronscopeError(f"{model.name} has no default layer; give one")
    model.check_layers([layer])
    if isinstance(images, torch.Tensor) and images.dim() == 4:
        groups = list(images.split(batch_size))
    else:
        groups = [img.unsqueeze(0) for img in _as_list(images)]
    out = []
    with torch.no_grad():
        for group in groups:
            acts = model.capture(group, [layer])[layer]
            if acts.dim() != 4:
                raise NeuronscopeError(f"{layer} has no spatial positions to factorise")
            for a in acts.double().cpu():
                out.append(a.flatten(1).T.numpy())
    low = min(float(x.min()) for x in out)
    if low < 0:
        raise NeuronscopeError(f"{layer} of {model.name} has negative values ({low:.3g}): NMF needs a layer "
                               f"after a ReLU (its activation is {model.activations.get(layer)})")
    return layer, out


def _as_list(images) -> list[torch.Tensor]:
    items = [images] if isinstance(images, torch.Tensor) else list(images)
    if not items:
        raise NeuronscopeError("no images to factorise")
    for img in items:
        if not isinstance(img, torch.Tensor) or img.dim() != 3 or img.shape[0] != 3:
            raise NeuronscopeError(f"images must be (3, H, W) tensors, got {getattr(img, 'shape', type(img))}")
    return items


def nmf(x: np.ndarray, k: int, seed: int = 0, max_iter: int = 400, tol: float = 1e-4,
        info: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """X (n, C) >= 0 -> (W (n, k), H (k, C)) with unit-norm rows of H, ordered by each factor's
    share of ||WH||^2; refuses k outside [1, min(n, C)] and an all-zero X. `info` (a dict) gets
    the solver's iterations and whether it converged within `max_iter` (scikit-learn's tol)."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning

    n, c = x.shape
    if not 1 <= k <= min(n, c):
        raise NeuronscopeError(f"k must be between 1 and {min(n, c)} for a {n} x {c} activation matrix, got {k}")
    if not x.any():
        raise NeuronscopeError("the activations are all zero: nothing to factorise")
    solver = NMF(n_components=k, init="nndsvda", solver="cd", beta_loss="frobenius", max_iter=max_iter, tol=tol,
                 random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        w = solver.fit_transform(np.asarray(x, dtype=np.float32)).astype(np.float64)
    h = solver.components_.astype(np.float64)
    if info is not None:
        info["iterations"] = int(solver.n_iter_)
        info["converged"] = not any(issubclass(c.category, ConvergenceWarning) for c in caught)
    norms = np.linalg.norm(h, axis=1)
    keep = norms > 0
    w, h = w[:, keep] * norms[keep], h[keep] / norms[keep, None]
    share = np.einsum("nk,nk->k", w, w)  # with unit-norm directions, each factor's own energy
    order = np.argsort(-share, kind="stable")
    return w[:, order], h[order]


def factorize_images(model, images, layer: str | None = None, k: int = 6, seed: int = 0,
                     max_iter: int = 400) -> Factorization:
    """Jointly factorise `layer` (default: the model's default layer) over `images` ((3, H, W)
    tensors in [0, 1] of any sizes, or one (N, 3, H, W) batch) into k shared channel directions."""
    layer, mats = layer_activations(model, images, layer)
    sizes = ([tuple(images.shape[-2:])] * len(images) if isinstance(images, torch.Tensor) and images.dim() == 4
             else [tuple(img.shape[-2:]) for img in _as_list(images)])
    grids = _grids(model, layer, images, sizes)
    x = np.concatenate(mats)
    info: dict = {}
    w, h = nmf(x, k, seed, max_iter, info=info)
    error = float(np.linalg.norm(x - w @ h) / np.linalg.norm(x))
    maps, start = [], 0
    for (gh, gw), m in zip(grids, mats):
        maps.append(w[start:start + len(m)].T.reshape(len(h), gh, gw))
        start += len(m)
    groups = Groups(model.name, layer, h, notes={"images": len(mats), "k_requested": k, "seed": seed,
                                                "relative_error": round(error, 4), **info})
    if len(groups) < k:
        groups.notes["dropped"] = f"{k - len(groups)} factor(s) came out all zero and were dropped"
    return Factorization(groups, maps, sizes, error)


def _grids(model, layer, images, sizes) -> list[tuple[int, int]]:
    shapes = {}
    for size in sizes:
        if size not in shapes:
            shapes[size] = model.layer_shapes(size, [layer])[layer][-2:]
    return [tuple(shapes[s]) for s in sizes]


def factorize(model, image: torch.Tensor, layer: str | None = None, k: int = 6, seed: int = 0,
              max_iter: int = 400) -> Factorization:
    """Factorise one (3, H, W) image's activations: k spatial maps (a segmentation) and directions."""
    if not isinstance(image, torch.Tensor) or image.dim() != 3:
        raise NeuronscopeError("factorize takes one (3, H, W) image; use factorize_images for several")
    return factorize_images(model, [image], layer, k, seed, max_iter)


def project(x: np.ndarray, directions: np.ndarray, max_iter: int = 500, tol: float = 1e-8) -> np.ndarray:
    """Non-negative least squares of each row of X (n, C) onto fixed directions (k, C): (n, k).

    Projected gradient with Nesterov momentum on the k x k Gram matrix (step 1 / its largest
    eigenvalue), stopped when the update falls below `tol` of the solution's size."""
    d = np.asarray(directions, dtype=np.float64)
    gram = d @ d.T
    b = x @ d.T
    step = 1.0 / max(float(np.linalg.eigvalsh(gram)[-1]), 1e-12)
    w = np.clip(b * step, 0, None)
    y, t = w.copy(), 1.0
    for _ in range(max_iter):
        w_next = np.clip(y - step * (y @ gram - b), 0, None)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = w_next + (t - 1) / t_next * (w_next - w)
        change = np.abs(w_next - w).max()
        w, t = w_next, t_next
        if change <= tol * max(1.0, float(np.abs(w).max())):
            break
    return w


def find_groups(model, groups: Groups, image: torch.Tensor) -> np.ndarray:
    """Where each saved group is in a new (3, H, W) image: (k, h, w) maps on the layer's grid, by
    non-negative least squares of every position's activations onto the groups' directions."""
    if groups.model != model.name:
        raise NeuronscopeError(f"the groups were fitted on {groups.model}, not {model.name}")
    layer, (x,) = layer_activations(model, [image], groups.layer)
    if x.shape[1] != groups.directions.shape[1]:
        raise NeuronscopeError(f"{layer} has {x.shape[1]} channels; the groups have {groups.directions.shape[1]}")
    (gh, gw), = _grids(model, layer, [image], [tuple(image.shape[-2:])])
    return project(x, groups.directions).T.reshape(len(groups), gh, gw)


PALETTE = ((0.90, 0.10, 0.10), (0.10, 0.45, 0.90), (0.10, 0.70, 0.20), (0.95, 0.65, 0.05), (0.60, 0.20, 0.80),
           (0.05, 0.75, 0.75), (0.95, 0.40, 0.70), (0.55, 0.35, 0.15), (0.50, 0.50, 0.50), (0.70, 0.80, 0.10))


def colours(k: int) -> np.ndarray:
    """k distinct RGB colours (cycling the palette past 10)."""
    return np.asarray([PALETTE[i % len(PALETTE)] for i in range(k)])


def colour_overlay(image: torch.Tensor, maps: np.ndarray, strength: float = 0.75) -> np.ndarray:
    """Each factor a colour over the (dimmed, grey) image, as lucid draws NMF: (H, W, 3) in [0, 1].
    `maps` (k, H, W) at the image's size; each is scaled by its own maximum."""
    grey = image.mean(0).numpy()[..., None] * np.ones(3)
    m = np.asarray(maps, dtype=np.float64)
    m = m / np.maximum(m.reshape(len(m), -1).max(1), 1e-12)[:, None, None]
    weight = m.sum(0)
    tint = np.einsum("khw,kc->hwc", m, colours(len(m))) / np.maximum(weight, 1e-12)[..., None]
    alpha = strength * np.clip(weight, 0, 1)[..., None]
    return np.clip((1 - alpha) * (0.35 + 0.5 * grey) + alpha * tint, 0, 1)


def save_overlay(image: torch.Tensor, maps: np.ndarray, path, strength: float = 0.75) -> Path:
    """Write `colour_overlay(image, maps, strength)` ((k, H, W) maps at the image's size) as a PNG."""
    from neuronscope.stimuli.tiling import save_grid

    pixels = torch.from_numpy(colour_overlay(image, maps, strength)).permute(2, 0, 1).float()
    return save_grid(pixels[None], path, padding=0)


def plot_factorization(images: Sequence[torch.Tensor], maps: Sequence[np.ndarray], names: Sequence[str] = (),
                       groups: Groups | None = None, title: str | None = None):
    """A matplotlib Figure: one row per image (the photograph, all factors as colours, then each
    factor alone in its colour); `maps` are (k, h, w) layer-grid maps, upsampled here."""
    from matplotlib.figure import Figure

    from neuronscope.applications.figures import image_grid_done

    k = len(maps[0])
    cols = 2 + k
    fig = Figure(figsize=(1.6 * cols, 1.7 * len(images) + (0.4 if title else 0)), dpi=110)
    axes = fig.subplots(len(images), cols, squeeze=False)
    palette = colours(k)
    labels = list(groups.names) if groups is not None else [f"factor {j}" for j in range(k)]
    for r, (img, m) in enumerate(zip(images, maps)):
        up = upsample(m, tuple(img.shape[-2:]))
        axes[r, 0].imshow(img.permute(1, 2, 0).numpy())
        axes[r, 1].imshow(colour_overlay(img, up))
        for j in range(k):
            one = np.zeros_like(up)
            one[j] = up[j]
            axes[r, 2 + j].imshow(colour_overlay(img, one, strength=0.9), interpolation="nearest")
            if r == 0:
                axes[r, 2 + j].set_title(labels[j], fontsize=8, color=palette[j])
        axes[r, 0].set_ylabel(names[r] if r < len(names) else f"image {r}", fontsize=8)
        if r == 0:
            axes[r, 0].set_title("image", fontsize=8)
            axes[r, 1].set_title("all factors", fontsize=8)
    return image_grid_done(fig, axes.flat, title)


def group_attribution(model, groups: Groups, group: int | str, image: torch.Tensor,
                      maps: np.ndarray | None = None) -> torch.Tensor:
    """(H, W) attribution of a group to the pixels of a (3, H, W) image: the length over colour
    channels of dF/dx, F = sum_p m(p) <d, a_p(x)> with d the group's direction, a_p the layer's
    activations at position p and m the group's map (`find_groups`, held fixed): where changing
    the image changes the group's activation where the group was found. Scaled to max 1."""
    g = groups.index(group)
    if maps is None:
        maps = find_groups(model, groups, image)
    weight = torch.as_tensor(np.asarray(maps[g], dtype=np.float32), device=model.device)
    direction = torch.as_tensor(groups.directions[g], dtype=torch.float32, device=model.device)
    x = image.detach().float().unsqueeze(0).to(model.device).requires_grad_(True)
    with torch.enable_grad():
        acts = model.capture(x, [groups.layer])[groups.layer][0]
        value = (torch.einsum("chw,c->hw", acts, direction) * weight).sum()
        (grad,) = torch.autograd.grad(value, x)
    out = grad[0].norm(dim=0).cpu()
    top = float(out.max())
    if not top > 0:
        raise NeuronscopeError(f"group {groups.names[g]} has no attribution in this image (it is not found there)")
    return out / top
