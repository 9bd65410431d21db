"""The echo experiment: remove the negative weights from one curve family to the next and
measure whether the later curves start to answer the curve rotated by 180 degrees ("echoes").

Responses come from `neuronscope.tuning` (arcs centred on the target's receptive field, in the
original model's dataset SDs for both runs) and echo strength from `neuronscope.families`
(`tuning_peak(...).echo`: a secondary peak near the preferred orientation + 180, as a fraction
of the main one, on each unit's orientation tuning at its best radius).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from neuronscope.circuits.editing import WeightEdit, edit
from neuronscope.families.family import Family
from neuronscope.families.score import tuning_peak
from neuronscope.models import Model
from neuronscope.tuning import curve_tuning, dataset_units, make_probe
from neuronscope.tuning.figures import best_orientation_curves
from neuronscope.tuning.result import Tuning
from neuronscope.tuning.units import Units

ECHO_THRESHOLD = 0.2  # a unit "has an echo" when its secondary peak is at least a fifth of the main one


@dataclass
class EchoResult:
    source: str
    target: str
    source_family: Family
    target_family: Family
    edit: WeightEdit
    edit_log: list[str]
    before: Tuning
    after: Tuning
    model: str = ""

    @property
    def units(self) -> list[int]:
        return list(self.target_family.units)

    def echoes(self, tuning: Tuning) -> np.ndarray:
        """Echo strength of each target unit (0: none, 1: as strong as the preferred orientation)."""
        theta = tuning.axes["orientation_deg"]
        curves = best_orientation_curves(tuning, tuning.z, self.units)
        return np.array([tuning_peak(theta, curves[:, i]).echo for i in range(len(self.units))])

    def summary(self) -> dict:
        before, after = self.echoes(self.before), self.echoes(self.after)
        return {"source": self.source, "target": self.target, "source_units": list(self.source_family.units),
                "target_units": self.units, "edit": self.edit_log,
                "echo_measure": "neuronscope.families tuning_peak echo: secondary peak within 45 deg of "
                                "preferred + 180, relative height, orientation tuning at the best radius",
                "mean_echo_before": round(float(before.mean()), 4), "mean_echo_after": round(float(after.mean()), 4),
                "echo_threshold": ECHO_THRESHOLD, "units_with_echo_before": int((before >= ECHO_THRESHOLD).sum()),
                "units_with_echo_after": int((after >= ECHO_THRESHOLD).sum()),
                "per_unit": [{"unit": u, "echo_before": round(float(b), 4), "echo_after": round(float(a), 4)}
                             for u, b, a in zip(self.units, before, after)]}


    def save(self, out) -> list[Path]:
        """tuning_before/after (.npz + .json), echo.png and echo.json (the summary) in folder `out`."""
        from neuronscope.tuning.figures import save

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        files = [*self.before.save(out, "tuning_before"), *self.after.save(out, "tuning_after"),
                 save(plot_echo(self), out / "echo.png")]
        (out / "echo.json").write_text(json.dumps({"model": self.model, **self.summary()}, indent=1) + "\n")
        return [*files, out / "echo.json"]

    def __repr__(self) -> str:
        s = self.summary()
        return (f"<EchoResult {self.source} -> {self.target}, {len(self.units)} units: mean echo "
                f"{s['mean_echo_before']} -> {s['mean_echo_after']}>")

    def _repr_html_(self) -> str:
        from neuronscope.notebook import figure_html

        return f"<div><b>{repr(self)[1:-1]}</b><br>{figure_html(plot_echo(self))}</div>"


def echo_experiment(model: Model, source: str, target: str, source_family: Family, target_family: Family,
                    *, sign: str = "negative", scale: float = 0.0, stats=None, images=None, sds: Units | None = None,
                    position=None, orientations=None, radii=None, batch_size: int = 256) -> EchoResult:
    """Curve tuning of `target_family` before and after scaling the `sign` weights from
    `source_family` to it by `scale` (default: remove the negative ones). Responses are in the
    original model's dataset SDs: `sds`, else from `stats`/`images` (default: the bundled
    photographs)."""
    change = WeightEdit(source, target, source_family.units, target_family.units, sign=sign, scale=scale)
    units = list(target_family.units)
    probe = make_probe(model, target, position)
    sds = sds or dataset_units(model, target, stats, images)
    sweep = dict(scale=sds, orientations=orientations, radii=radii, batch_size=batch_size)
    before = curve_tuning(probe, units, **sweep)
    with edit(model, weights=[change]) as edited:
        after = curve_tuning(make_probe(edited, target, position), units, **sweep)
        log = list(edited.log)
    return EchoResult(source, target, source_family, target_family, change, log, before, after, model.name)


def plot_echo(result: EchoResult) -> Figure:
    """Radial orientation tuning of the target family before and after the edit (each unit
    normalised by its own maximum, at its best radius), and each unit's echo strength."""
    from matplotlib import colormaps

    units = result.units
    fig = Figure(figsize=(14, 5), layout="constrained")
    grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.1])
    colors = [colormaps["hsv"](i / max(len(units), 1) * 0.9) for i in range(len(units))]
    echoes = {}
    for k, (name, tuning) in enumerate((("before", result.before), ("after", result.after))):
        ax = fig.add_subplot(grid[k], projection="polar")
        theta = np.deg2rad(np.append(tuning.axes["orientation_deg"], tuning.axes["orientation_deg"][:1]))
        curves = best_orientation_curves(tuning, tuning.z, units)
        curves = curves / np.where(np.abs(curves).max(0) > 0, np.abs(curves).max(0), 1)
        low = min(0.0, float(np.nanmin(curves)))
        for i, u in enumerate(units):
            ax.plot(theta, np.append(curves[:, i], curves[:1, i]), color=colors[i], lw=1.1, label=str(u))
        ax.set_rlim(low, 1.05)
        ax.set_rorigin(low - 0.15 * (1.05 - low))
        echoes[name] = result.echoes(tuning)
        ax.set_title(f"{name} (mean echo {echoes[name].mean():.2f})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_yticklabels([])
    ax = fig.add_subplot(grid[2])
    x = np.arange(len(units))
    ax.bar(x - 0.2, echoes["before"], 0.4, label="before", color="0.6")
    ax.bar(x + 0.2, echoes["after"], 0.4, label="after", color="tab:red")
    ax.set_xticks(x, [str(u) for u in units], rotation=90, fontsize=7)
    ax.set_ylabel("echo strength")
    ax.set_title("peak near preferred + 180°, relative height", fontsize=8)
    ax.legend(fontsize=7)
    fig.suptitle(f"{result.target} curve family, pre-activation tuning to arcs (orientation = outward normal, CCW "
                 f"from +x), before/after: {'; '.join(result.edit_log)}\nweights chosen on expanded weights, "
                 f"linear approximation (ReLU = identity, max-pool = average-pool)", fontsize=8)
    return fig
