"""Response units: standard deviations of a unit's value over a dataset, from its dataset mean.

The statistics come from a saved `neuronscope.dataset` result (`load_stats`) or are computed on
the fly in whole-image mode: every spatial position of the layer over the given images (by
default scikit-image's ~20 bundled photographs, about 200 positions each for a stride-16 layer
at 224 px). That costs one forward pass per image and, unlike crop mode (one sample per image),
gives thousands of samples per unit; it is the distribution over receptive-field-sized windows
of those photographs, border positions (partly padding) included.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuronscope.errors import NeuronscopeError


@dataclass(frozen=True)
class Units:
    """z = (value - mean) / std, per unit of a layer; `label` says what the unit is, for figures."""

    mean: np.ndarray
    std: np.ndarray
    label: str

    def z(self, values, units) -> np.ndarray:
        """`values` (..., len(units)) of the given units in dataset SDs (NaN for a unit that never varies)."""
        idx = np.asarray(units)
        std = self.std[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(std > 0, (np.asarray(values, np.float64) - self.mean[idx]) / std, np.nan)


def dataset_stats(model, layer: str, stats=None, images=None, *, limit: int | None = None):
    """Pre-activation statistics of `layer`: `stats` (a `Stats` or its folder) checked to match,
    else computed over `images` (anything `neuronscope.dataset` takes as a source; default the
    bundled photographs) in whole-image mode."""
    from neuronscope import dataset

    if stats is None:
        return dataset.compute_stats(model, layer, images, pre_relu=True, limit=limit, figures="none",
                                     progress=False, workers=0, batch_size=16)
    if isinstance(stats, (str, Path)):
        stats = dataset.load_stats(stats)
    stats.require_complete()
    if stats.layer != layer or not stats.manifest["pre_relu"]:
        raise NeuronscopeError(f"the statistics are of {stats.layer} ({'pre' if stats.manifest['pre_relu'] else 'post'}"
                               f"-activation); tuning needs pre-activation statistics of {layer}")
    stats.check_model(model)
    return stats


def units_of(stats) -> Units:
    """Dataset SDs from a `Stats`, labelled with where they came from."""
    source = stats.manifest["source"]
    where = {"samples": "scikit-image photographs", "folder": "images", "list": "listed images"}[source["kind"]]
    mode = "all positions" if stats.manifest["mode"] == "image" else "the central position"
    label = f"SDs from dataset mean (pre-act., {stats.images} {where}, {mode})"
    return Units(np.asarray(stats.mean, np.float64), np.asarray(stats.std, np.float64), label)


def dataset_units(model, layer: str, stats=None, images=None, *, limit: int | None = None) -> Units:
    """`units_of(dataset_stats(...))`: pre-activation dataset SDs of `layer`."""
    return units_of(dataset_stats(model, layer, stats, images, limit=limit))
