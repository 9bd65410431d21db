"""Artificial versus natural curve detectors: their family-to-family kernels and their responses
to synthetic curves, each artificial unit paired with the natural unit nearest in orientation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuronscope.aann.layer import ArtificialCurves
from neuronscope.aann.model import artificial_model
from neuronscope.circuits.views import FamilyMatrix, family_matrix
from neuronscope.families.family import Family


def natural_group(family, layer: str) -> Family:
    """The natural target family, oriented and ordered (from anything `Family.of` reads)."""
    family = Family.of(family, "natural curves", layer)
    family.require_orientations()
    return family.ordered()


def artificial_group(layer: ArtificialCurves) -> Family:
    """The artificial units (channels 0..K-1) as an oriented `Family`."""
    return Family.from_units(range(layer.out_channels), layer.orientations, layer=layer.target,
                             name="artificial curves")


def source_groups(layer: ArtificialCurves) -> dict[str, Family]:
    """The source families the layer was built from, by kind ("curve", "line")."""
    out = {}
    for kind in ("curve", "line"):
        units = [s for s in layer.sources if s.kind == kind]
        if units:
            out[kind] = Family.from_units([s.unit for s in units], [s.orientation_deg for s in units],
                                          layer=layer.source, kind=kind)
    return out


def pair_by_orientation(orientations, natural: Family) -> list[int]:
    """For each orientation, the index (in `natural`) of the member nearest in orientation."""
    theirs = np.asarray(natural.orientations)
    return [int(np.argmin(np.abs((theirs - t + 180) % 360 - 180))) for t in orientations]


def correlation(a, b) -> float:
    """Pearson correlation of two arrays, flattened (NaN if either is constant)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    norm = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / norm) if norm > 0 else float("nan")


@dataclass
class Comparison:
    """`matrix[k, j]`: correlation of artificial unit k with natural member j (of `natural`, in
    its order); `pairs[k]` is k's orientation-matched member. The mismatched entries are the
    baseline the matched ones should beat."""

    what: str
    orientations: list[float]
    natural: Family
    pairs: list[int]
    matrix: np.ndarray

    @property
    def matched(self) -> np.ndarray:
        return self.matrix[np.arange(len(self.pairs)), self.pairs]

    @property
    def baseline(self) -> float:
        """Mean correlation of artificial units with the natural units they are not paired with."""
        mask = np.ones_like(self.matrix, bool)
        mask[np.arange(len(self.pairs)), self.pairs] = False
        return float(np.nanmean(self.matrix[mask])) if mask.any() else float("nan")

    def to_dict(self) -> dict:
        return {"what": self.what, "mean_matched": float(np.nanmean(self.matched)), "mean_mismatched": self.baseline,
                "pairs": [{"orientation_deg": t, "natural_unit": self.natural.units[p],
                           "natural_orientation_deg": self.natural.orientations[p], "correlation": round(float(r), 4)}
                          for t, p, r in zip(self.orientations, self.pairs, self.matched)]}


def _comparison(what: str, layer: ArtificialCurves, natural: Family, matrix) -> Comparison:
    return Comparison(what, layer.orientations, natural, pair_by_orientation(layer.orientations, natural),
                      np.asarray(matrix, np.float64))


@dataclass
class KernelViews:
    """Family-to-family matrices (`neuronscope.circuits.views.FamilyMatrix`) from each source
    family into the natural family and into the artificial units, and their correlations."""

    natural: dict[str, FamilyMatrix]
    artificial: dict[str, FamilyMatrix]
    comparison: Comparison


def compare_kernels(model, layer: ArtificialCurves, natural_family) -> KernelViews:
    """Natural expanded weights (`neuronscope.circuits`, linear approximation) from the source
    families into the natural target family, beside the artificial kernels; correlation over
    every (source family unit, tap) of each artificial unit with each natural member."""
    natural = natural_group(natural_family, layer.target)
    ours = artificial_group(layer)
    sources = source_groups(layer)
    nat = {k: _cropped(family_matrix(model, layer.source, g, layer.target, natural), layer.kernel_size)
           for k, g in sources.items()}
    art = {k: family_matrix(model, layer.source, g, layer.target, ours, kernels=layer.weight.detach().cpu())
           for k, g in sources.items()}  # for the figures, ordered by orientation
    weight = layer.weight.detach().cpu()  # artificial units in their own order, sources as in `nat`
    flat_nat = np.concatenate([nat[k].kernels.flatten(1).numpy() for k in sources], axis=1)
    flat_art = np.concatenate([weight[:, list(nat[k].source.units)].flatten(1).numpy() for k in sources], axis=1)
    matrix = [[correlation(a, n) for n in flat_nat] for a in flat_art]
    return KernelViews(nat, art, _comparison("kernels", layer, natural, matrix))


def _cropped(matrix: FamilyMatrix, size) -> FamilyMatrix:
    """The matrix with kernels cut to their central `size` (when the motif's kernel is smaller)."""
    kh, kw = size
    top, left = (matrix.kernels.shape[-2] - kh) // 2, (matrix.kernels.shape[-1] - kw) // 2
    kernels = matrix.kernels[..., top:top + kh, left:left + kw].cpu()
    return FamilyMatrix(matrix.source_layer, matrix.target_layer, matrix.source, matrix.target, kernels)


@dataclass
class TuningViews:
    """Orientation x radius responses to curves (`neuronscope.tuning.Tuning`) of the natural
    family and of the artificial units, and the correlation of their radial tuning curves
    (each unit's orientation tuning at the radius where it responds most, in dataset SDs)."""

    natural: object
    artificial: object
    comparison: Comparison


def compare_tuning(model, layer: ArtificialCurves, natural_family, *, natural_scale=None, artificial_scale=None,
                   orientations=None, radii=None, batch_size: int = 256) -> TuningViews:
    """Curve sweeps (`neuronscope.tuning.curve_tuning`) of the natural family in `model` and of
    the artificial units in `artificial_model(model, layer)`, at the target's central position.

    Scales (`neuronscope.tuning.Units`) default to dataset statistics of each model's layer over
    the bundled photographs (`tuning.dataset_units`)."""
    from neuronscope.tuning import curve_tuning, dataset_units, make_probe
    from neuronscope.tuning.figures import best_orientation_curves

    natural = natural_group(natural_family, layer.target)
    amodel = artificial_model(model, layer)
    sweep = dict(orientations=orientations, radii=radii, batch_size=batch_size)
    nat = curve_tuning(make_probe(model, layer.target), list(natural.units),
                       scale=natural_scale or dataset_units(model, layer.target), **sweep)
    ours = list(range(layer.out_channels))
    art = curve_tuning(make_probe(amodel, layer.target), ours,
                       scale=artificial_scale or dataset_units(amodel, layer.target), **sweep)
    nat_curves = best_orientation_curves(nat, nat.z, list(natural.units))  # (orientations, natural units)
    art_curves = best_orientation_curves(art, art.z, ours)
    matrix = [[correlation(art_curves[:, k], nat_curves[:, j]) for j in range(len(natural.units))] for k in ours]
    return TuningViews(nat, art, _comparison("radial tuning", layer, natural, matrix))
