"""`Tuning`: the responses of some units to a grid of stimuli, with its axes, units and settings.

Values are kept as the raw pre-activation; `z` gives them in dataset SDs and `post` after the
layer's activation (ReLU/ReLU6), so one measurement serves pre- and post-ReLU figures.
Saved as NAME.npz (every array) plus NAME.json (settings, axes and z values, readable anywhere).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neuronscope.models import ops
from neuronscope.tuning.units import Units


@dataclass(repr=False)
class Tuning:
    kind: str                      # "curves", "lines", "angles", ...
    axes: dict[str, np.ndarray]    # stimulus axes, in the order of `raw`'s leading dimensions
    raw: np.ndarray                # (*axis lengths, len(units)) pre-activation values
    units: list[int]
    scale: Units
    activation: str | None         # the layer's activation, applied by `post`
    meta: dict = field(default_factory=dict)  # model, layer, position, stimulus settings

    @property
    def z(self) -> np.ndarray:
        return self.scale.z(self.raw, self.units)

    @property
    def post(self) -> np.ndarray:
        """Values after the layer's activation (model units)."""
        return ops.ACTIVATIONS[self.activation](torch.from_numpy(self.raw)).numpy()

    def __repr__(self) -> str:
        axes = " x ".join(f"{len(v)} {k}" for k, v in self.axes.items())
        where = ":".join(str(self.meta[k]) for k in ("model", "layer") if k in self.meta)
        units = ", ".join(map(str, self.units[:8])) + (", ..." if len(self.units) > 8 else "")
        return f"<Tuning {self.kind}{' of ' + where if where else ''}: {axes}; units {units}>"

    def _repr_html_(self) -> str:
        """The experiment's own figure (radial tuning for curves and lines) inline."""
        from neuronscope.notebook import figure_html, table_html
        from neuronscope.tuning import figures

        plots = {"curves": figures.plot_radial, "lines": figures.plot_radial, "angles": figures.plot_angles,
                 "morphs": figures.plot_morphs, "fill_colour": figures.plot_fill_colour,
                 "joint": figures.plot_joint}
        title = repr(self)[1:-1]
        if self.kind in plots:
            return f"<div><b>{title}</b><br>{figure_html(plots[self.kind](self))}</div>"
        z = np.nan_to_num(self.z, nan=-np.inf).reshape(-1, len(self.units))
        return table_html(["unit", "peak (SDs)"], [[u, float(z[:, i].max())] for i, u in enumerate(self.units)],
                          title)

    def column(self, unit: int) -> int:
        """Index of `unit` along the last axis."""
        return self.units.index(unit)

    def save(self, folder, name: str | None = None) -> list[Path]:
        """Write folder/NAME.npz (raw, z, units, their dataset mean/std, axes) and NAME.json
        (settings, axes, z values); NAME defaults to the kind."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / (name or self.kind)
        z = self.z
        np.savez_compressed(stem.with_suffix(".npz"), raw=self.raw, z=z, units=np.asarray(self.units),
                            mean=self.scale.mean[self.units], std=self.scale.std[self.units],
                            **{f"axis_{k}": v for k, v in self.axes.items()})
        doc = {"kind": self.kind, **self.meta, "unit_of_z": self.scale.label, "activation": self.activation,
               "units": self.units, "axes": {k: _listed(v) for k, v in self.axes.items()},
               "dims": [*self.axes, "unit"], "z": _listed(np.round(z, 4))}
        stem.with_suffix(".json").write_text(json.dumps(doc, allow_nan=False) + "\n")
        return [stem.with_suffix(".npz"), stem.with_suffix(".json")]


def _listed(a: np.ndarray):
    """A JSON-safe nested list: non-finite numbers become strings ("inf", "nan")."""
    a = np.asarray(a, np.float64)
    out = np.where(np.isfinite(a), a, 0).tolist()
    if np.isfinite(a).all():
        return out
    flat = [v if np.isfinite(x) else str(x) for v, x in zip(np.ravel(out), a.ravel())]
    return np.array(flat, dtype=object).reshape(a.shape).tolist()
