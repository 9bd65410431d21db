"""Neuron surgery: top-1/top-5 accuracy with a layer's family ablated, replaced by artificial
units, or with as many random units of the layer ablated.

Two passes. The first decodes each batch once, runs the network up to the edited layer
(`SplitForward.head`) and accumulates each unit's mean and standard deviation over all images
and positions of the evaluation set (pre-activation), and those of the artificial units; it
keeps the split layer's values (and the artificial outputs) in memory, up to `cache_mb`. The
second runs only the rest of the network from the kept values, every condition of a batch in
one stacked pass (batches beyond the memory budget are decoded and run up to the split again).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from neuronscope.errors import NeuronscopeError
from neuronscope.evaluate import check_labels, labelled_batches
from neuronscope.models import ops
from neuronscope.surgery.bootstrap import mean_interval, percentile_interval, recovered_fraction, resample_indices
from neuronscope.surgery.tail import SplitForward

ABLATION = "each unit set to its mean pre-activation over all images and positions of the evaluation set"
REPLACEMENT = ("artificial outputs standardised by their own mean/std over the evaluation set, "
               "then given the natural unit's mean/std")
STACK_ROWS = 256  # images per tail pass: a batch's conditions run stacked


@dataclass(frozen=True)
class Condition:
    """`mode` "none" (unchanged), "mean" (units ablated to their dataset mean) or
    "artificial" (units replaced by the artificial units, in order)."""

    name: str
    units: tuple[int, ...]
    mode: str


@dataclass(repr=False)
class SurgeryResult:
    """Per-image correctness of every condition, with paired-bootstrap summaries."""

    model: str
    layer: str
    conditions: list[Condition]
    correct1: dict[str, torch.Tensor]
    correct5: dict[str, torch.Tensor]
    n_boot: int = 1000
    seed: int = 0
    level: float = 0.95
    notes: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(next(iter(self.correct1.values())))

    @property
    def random_names(self) -> list[str]:
        return [c.name for c in self.conditions if c.name.startswith("random")]

    def _correct(self, name: str, k: int) -> torch.Tensor:
        """Per-image correctness as floats; "random" is the mean over the random seeds."""
        table = self.correct1 if k == 1 else self.correct5
        if name == "random":
            return torch.stack([table[r].double() for r in self.random_names]).mean(dim=0)
        return table[name].double()

    def accuracy(self, name: str, k: int = 5) -> float:
        return float(self._correct(name, k).mean())

    def interval(self, name: str, k: int = 5) -> tuple[float, float]:
        return mean_interval(self._correct(name, k), resample_indices(self.n, self.n_boot, self.seed), self.level)

    def recovered(self, k: int = 5) -> tuple[float, float, float]:
        """(fraction of the ablation's drop that the replacement recovers, interval)."""
        u, a, r = (self._correct(n, k) for n in ("unchanged", "ablated", "replaced"))
        point = float(recovered_fraction(u, a, r))
        idx = resample_indices(self.n, self.n_boot, self.seed)
        return (point, *percentile_interval(recovered_fraction(u[idx], a[idx], r[idx]), self.level))

    def drop(self, name: str, k: int = 5) -> tuple[float, float, float]:
        """(accuracy unchanged minus accuracy of `name`, paired-bootstrap interval)."""
        u, c = self._correct("unchanged", k), self._correct(name, k)
        idx = resample_indices(self.n, self.n_boot, self.seed)
        return (float(u.mean() - c.mean()), *percentile_interval(u[idx].mean(dim=1) - c[idx].mean(dim=1), self.level))

    def names(self) -> list[str]:
        """Main conditions, then "random" (the mean over seeds) and each seed."""
        main = [c.name for c in self.conditions if not c.name.startswith("random")]
        return main + (["random", *self.random_names] if self.random_names else [])

    def summary(self) -> dict:
        rows = {}
        for name in self.names():
            rows[name] = {f"top{k}": self.accuracy(name, k) for k in (1, 5)}
            rows[name].update({f"top{k}_ci": list(self.interval(name, k)) for k in (1, 5)})
        units = {c.name: list(c.units) for c in self.conditions}
        out = {"model": self.model, "layer": self.layer, "n": self.n, "n_boot": self.n_boot, "seed": self.seed,
               "level": self.level, "conditions": rows, "units": units, "notes": self.notes}
        out["ablation_drop"] = {f"top{k}": list(self.drop("ablated", k)) for k in (1, 5)}
        if "replaced" in self.correct1:
            out["recovered"] = {f"top{k}": list(self.recovered(k)) for k in (1, 5)}
        return out

    def __repr__(self) -> str:
        cells = ", ".join(f"{name} {100 * self.accuracy(name, 5):.1f}%" for name in self.names()
                          if not name.startswith("random") or name == "random")
        return f"<SurgeryResult {self.model} {self.layer}, {self.n} images, top-5: {cells}>"

    def _repr_html_(self) -> str:
        from neuronscope.notebook import table_html

        return table_html(self.headers(), self.rows(), repr(self)[1:-1])

    def headers(self) -> list[str]:
        pct = int(round(self.level * 100))
        return ["condition", "units", f"top-1 ({pct}% CI)", f"top-5 ({pct}% CI)"]

    def rows(self) -> list[list]:
        """One row per condition (`headers`): name, units edited, top-1 and top-5 accuracy with
        their bootstrap intervals, in percent."""
        counts = {c.name: len(c.units) for c in self.conditions}
        counts["random"] = counts.get(self.random_names[0], 0) if self.random_names else 0
        out = []
        for name in self.names():
            cells = []
            for k in (1, 5):
                lo, hi = self.interval(name, k)
                cells.append(f"{100 * self.accuracy(name, k):.1f}% ({100 * lo:.1f}-{100 * hi:.1f})")
            out.append(["random (mean of seeds)" if name == "random" else name, counts[name], *cells])
        return out

    def explanation(self) -> list[str]:
        """What the table's rows and intervals mean, and the drop and recovery, one sentence each."""
        lines = [f"{self.n} images; intervals from {self.n_boot} bootstrap resamples of the images "
                 f"(seed {self.seed}). Ablation: {self.notes.get('ablation', ABLATION)}."]
        if self.random_names:
            lines.append("random<seed>: as many units drawn (with that seed) from the layer's other units, "
                         "ablated the same way.")
        if "replaced" in self.correct1:
            lines.append(f"Replacement: {self.notes.get('replacement', REPLACEMENT)}.")
        for k in (1, 5):
            point, lo, hi = self.drop("ablated", k)
            text = f"Top-{k}: ablation drop {100 * point:.1f} points ({100 * lo:.1f} to {100 * hi:.1f})"
            if "replaced" in self.correct1:
                point, lo, hi = self.recovered(k)
                text += ("; no drop to recover" if math.isnan(point) else
                         f"; the replacement recovers {100 * point:.0f}% of it ({100 * lo:.0f} to {100 * hi:.0f})")
            lines.append(text + ".")
        return lines

    def table(self) -> str:
        """A Markdown table of the accuracies with their bootstrap intervals, and what they mean."""
        lines = ["| " + " | ".join(self.headers()) + " |", "|---|---|---|---|"]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in self.rows()]
        return "\n".join(lines + [""] + self.explanation())

    def line(self) -> str:
        """`unchanged_top5=… ablated_top5=… replaced_top5=… random_top5=…` (fractions)."""
        names = ["unchanged", "ablated", "replaced", "random"]
        return " ".join(f"{n}_top5={self.accuracy(n, 5):.4f}" if self._has(n) else f"{n}_top5=nan" for n in names)

    def _has(self, name: str) -> bool:
        return bool(self.random_names) if name == "random" else name in self.correct1


def _units(family: Iterable) -> tuple[int, ...]:
    return tuple(int(m.unit if hasattr(m, "unit") else m) for m in family)


def conditions_for(units: Sequence[int], channels: int, artificial: bool,
                   random_seeds: Iterable[int]) -> list[Condition]:
    """unchanged, ablated, replaced (with artificial units), and per seed the same number
    of units drawn at random from the layer's other units, ablated."""
    out = [Condition("unchanged", (), "none"), Condition("ablated", tuple(units), "mean")]
    if artificial:
        out.append(Condition("replaced", tuple(units), "artificial"))
    others = [u for u in range(channels) if u not in set(units)]
    for s in random_seeds:
        if len(others) < len(units):
            raise NeuronscopeError(f"the layer has only {len(others)} units outside the family; "
                                   f"cannot draw {len(units)} random ones")
        order = torch.randperm(len(others), generator=torch.Generator().manual_seed(int(s)))
        out.append(Condition(f"random{s}", tuple(sorted(others[i] for i in order[:len(units)].tolist())), "mean"))
    return out


class _Moments:
    """Per-channel mean and std over batch and positions, accumulated in float64."""

    def __init__(self):
        self.count, self.sum, self.sumsq = 0, 0.0, 0.0

    def add(self, x: torch.Tensor):
        x = x.double()
        self.count += x.numel() // x.shape[1]
        self.sum = self.sum + x.sum(dim=(0, 2, 3))
        self.sumsq = self.sumsq + (x * x).sum(dim=(0, 2, 3))

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.sum / self.count
        return mean.float(), (self.sumsq / self.count - mean * mean).clamp(min=0).sqrt().float()


class _Edit:
    """Sets the condition's units of a layer value to their dataset means ("mean") or to the
    artificial outputs standardised and given the natural units' dataset mean/std ("artificial")."""

    def __init__(self, condition: Condition, mean, std, art_mean, art_std):
        self.index = torch.tensor(condition.units, dtype=torch.long, device=mean.device)
        self.mode = condition.mode
        self.mean, self.std = mean[self.index].view(1, -1, 1, 1), std[self.index].view(1, -1, 1, 1)
        if self.mode == "artificial":
            self.art_mean, self.art_std = art_mean.view(1, -1, 1, 1), art_std.clamp(min=1e-12).view(1, -1, 1, 1)

    def __call__(self, value: torch.Tensor, art: torch.Tensor | None) -> torch.Tensor:
        if self.mode == "mean":
            new = self.mean.expand(value.shape[0], -1, *value.shape[2:])
        else:
            new = (art - self.art_mean) / self.art_std * self.std + self.mean
        return value.index_copy(1, self.index.to(value.device), new.to(value))


def _groups(conditions: list[Condition], n: int, rows: int = STACK_ROWS) -> list[list[Condition]]:
    """Consecutive conditions, as many per group as fit `rows` stacked images of a batch of n."""
    size = max(1, rows // max(n, 1))
    return [conditions[i:i + size] for i in range(0, len(conditions), size)]


def _stacked_tail(split: SplitForward, layer: str, value: torch.Tensor, art, edits) -> torch.Tensor:
    """(len(edits), N, classes) logits: one tail over the batch repeated once per condition,
    condition m's edit (or none) applied to the m-th copy of `layer`."""
    m, n = len(edits), value.shape[0]

    def edit(v):
        parts = v.view(m, n, *v.shape[1:])
        return torch.cat([e(part, art) if e else part for e, part in zip(edits, parts)])

    logits = split.tail(value.repeat(m, *[1] * (value.dim() - 1)), {layer: edit})
    return logits.view(m, n, -1)


def run_surgery(model, layer: str, family, folder, rows, *, artificial=None,
                random_seeds: Iterable[int] = (0, 1, 2, 3, 4), batch_size: int = 50, n_boot: int = 1000,
                seed: int = 0, level: float = 0.95, cache_mb: float = 4096, progress: bool = True) -> SurgeryResult:
    """Accuracy of `model` on labelled images (`rows` from `neuronscope.evaluate.read_labels`)
    with `family` (units or family members of `layer`) left alone, ablated, replaced by
    `artificial` (an `ArtificialCurves` on `layer`; unit k replaces family unit k), and with
    as many random other units ablated for each of `random_seeds`. See the module docstring
    for the two passes; `n_boot` bootstrap resamples of the images (seed `seed`) give the
    intervals."""
    units = _units(family)
    if not units:
        raise NeuronscopeError("no family units to operate on")
    model.check_layers([layer])
    channels = model.layer_shapes(layers=[layer])[layer][0]
    bad = [u for u in units if not 0 <= u < channels]
    if bad:
        raise NeuronscopeError(f"{layer} has {channels} units (0-{channels - 1}); got unit {bad[0]}")
    if artificial is not None and (artificial.target != layer or artificial.out_channels != len(units)):
        raise NeuronscopeError(f"the artificial layer must have {len(units)} units on {layer!r} "
                               f"(got {artificial.out_channels} on {artificial.target!r})")
    if model.labels:
        check_labels(rows, len(model.labels), folder)
    conditions = conditions_for(units, channels, artificial is not None, random_seeds)
    batches = -(-len(rows) // batch_size)

    def load(i):
        return next(labelled_batches(folder, rows[i * batch_size:(i + 1) * batch_size], batch_size))

    def head(images):
        wanted = [layer] + ([artificial.source] if artificial is not None else [])
        with torch.no_grad():
            values = split.head(images, wanted)
            art = None
            if artificial is not None:
                art = artificial(ops.ACTIVATIONS[model.activations[artificial.source]](values[artificial.source]))
        return values, art

    first = load(0)
    split = SplitForward(model, layer, first[0][:2])
    natural, synthetic = _Moments(), _Moments()
    cache, budget = [], cache_mb * 2**20  # a prefix of the batches: batch i is cached if i < len(cache)
    for i in tqdm(range(batches), desc="surgery: statistics", unit="batch", disable=not progress):
        images, labels = first if i == 0 else load(i)
        values, art = head(images)
        natural.add(values[layer])
        if art is not None:
            synthetic.add(art)
        entry = (values[split.start], art, labels)
        size = sum(t.numel() * t.element_size() for t in entry if t is not None)
        if len(cache) == i and size <= budget:
            cache.append(entry)
            budget -= size
    mean, std = natural.mean_std()
    art_mean, art_std = synthetic.mean_std() if artificial is not None else (None, None)
    edits = {c.name: _Edit(c, mean, std, art_mean, art_std) for c in conditions if c.mode != "none"}

    c1, c5 = {c.name: [] for c in conditions}, {c.name: [] for c in conditions}
    for i in tqdm(range(batches), desc="surgery: conditions", unit="batch", disable=not progress):
        if i < len(cache):
            value, art, labels = cache[i]
        else:
            images, labels = load(i)
            values, art = head(images)
            value = values[split.start]
        for group in _groups(conditions, len(labels)):
            with torch.no_grad():
                logits = _stacked_tail(split, layer, value, art, [edits.get(c.name) for c in group]).cpu()
            top = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
            for c, t in zip(group, top):
                c1[c.name].append(t[:, 0] == labels)
                c5[c.name].append((t == labels[:, None]).any(dim=1))
    notes = {"ablation": ABLATION, "split_layer": split.start, "cached_batches": len(cache), "batches": batches}
    if artificial is not None:
        notes.update(replacement=REPLACEMENT, source=artificial.source,
                     orientations=artificial.orientations)
    return SurgeryResult(model.name, layer, conditions, {k: torch.cat(v) for k, v in c1.items()},
                         {k: torch.cat(v) for k, v in c5.items()}, n_boot, seed, level, notes)
