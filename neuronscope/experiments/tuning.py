"""Tuning experiments on neurons: the sweeps `neuronscope tune` runs, as one call.

    results = tune(model, ["block6_expand:36", "block6_expand:455"], experiments=("curves", "lines"))
    results.tunings["curves"]; results.save("out/")     # data (.npz + .json) and figures
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from neuronscope.errors import NeuronscopeError
from neuronscope.neurons import parse_neuron
from neuronscope.tuning import figures, joint, make_probe, sweeps
from neuronscope.tuning.units import dataset_stats, units_of

EXPERIMENTS = ("curves", "lines", "angles", "morphs", "fill", "tangent", "joint")


@dataclass
class TuningExperiments:
    """The tunings of some units of one layer at one position, by experiment (curves always);
    "tangent" holds one tuning per unit, "joint" a `tuning.joint` result."""

    layer: str
    position: tuple[int, int]
    units: list[int]
    tunings: dict[str, object] = field(default_factory=dict)
    preferred: dict[int, tuple[float, float]] = field(default_factory=dict)  # unit -> (orientation, radius)

    def save(self, folder, svg: bool = False) -> list[Path]:
        """Each experiment's data (NAME.npz + NAME.json) and figures (PNG, and SVG if asked) in `folder`."""
        folder = Path(folder)
        out: list[Path] = []

        def draw(fig, name):
            out.append(figures.save(fig, folder / f"{name}.png", svg=svg))

        t = self.tunings
        out += t["curves"].save(folder)
        draw(figures.plot_curve_heatmaps(t["curves"]), "curves_heatmaps")
        draw(figures.plot_radial(t["curves"]), "curves_radial")
        for name, plot, figure in (("lines", figures.plot_radial, "lines_radial"),
                                   ("angles", figures.plot_angles, "angles"), ("morphs", figures.plot_morphs, "morphs"),
                                   ("fill", figures.plot_fill_colour, "fill_colour")):
            if name in t:
                out += t[name].save(folder)
                draw(plot(t[name]), figure)
        for unit, lines in t.get("tangent", {}).items():
            out += lines.save(folder, f"tangent_lines_{unit}")
            draw(figures.plot_tangent_lines(lines, unit), f"tangent_lines_{unit}")
        if "joint" in t:
            out += t["joint"].save(folder)
            draw(figures.plot_joint(t["joint"]), "joint")
        return out

    def __repr__(self) -> str:
        return (f"<TuningExperiments {self.layer}@{self.position[0]},{self.position[1]} units "
                f"{', '.join(map(str, self.units[:8]))}{'...' if len(self.units) > 8 else ''}: "
                f"{', '.join(self.tunings)}>")

    def _repr_html_(self) -> str:
        from neuronscope.notebook import figure_html, table_html

        rows = [[u, o, round(r, 3)] for u, (o, r) in self.preferred.items()]
        return (table_html(["unit", "preferred orientation°", "radius (field)"], rows, repr(self)[1:-1])
                + figure_html(figures.plot_radial(self.tunings["curves"])))


def tune(model, neurons, experiments=("curves",), *, stats=None, images=None, limit: int | None = None,
         step: float = 5.0, radii: int = 16) -> list[TuningExperiments]:
    """Run `experiments` (from `EXPERIMENTS`; curves always) on `neurons` ("LAYER:UNIT[@Y,X]" or
    `Neuron`s), one `TuningExperiments` per (layer, position). Responses are in dataset SDs from
    `stats` (a statistics result or folder) or computed over `images` (`limit`: a seeded subset)."""
    chosen = set(EXPERIMENTS) if experiments == "all" else set(experiments)
    unknown = chosen - set(EXPERIMENTS)
    if unknown:
        raise NeuronscopeError(f"unknown experiment {sorted(unknown)[0]!r}; choose from {', '.join(EXPERIMENTS)} "
                               f"or all")
    if step <= 0 or radii < 2:
        raise NeuronscopeError("the orientation step must be > 0 and radii >= 2")
    groups: dict[tuple, list[int]] = {}
    for n in neurons:
        n = parse_neuron(n, model) if isinstance(n, str) else n
        groups.setdefault((n.layer, n.position), []).append(n.unit)
    out = []
    for (layer, position), units in groups.items():
        probe = make_probe(model, layer, position)
        layer_stats = dataset_stats(model, layer, stats, images, limit=limit)
        out.append(tune_units(probe, list(dict.fromkeys(units)), layer_stats, chosen, step, radii))
    return out


def tune_units(probe, units: list[int], stats, experiments, step: float = 5.0, radii: int = 16) -> TuningExperiments:
    """The experiments on `units` of a probe's layer and position, in SDs of `stats`."""
    scale = units_of(stats)
    coarse = np.arange(0, 360, max(step, 10))
    curves = sweeps.curve_tuning(probe, units, scale=scale, orientations=np.arange(0, 360, step),
                                 radii=sweeps.default_radii(radii))
    result = TuningExperiments(probe.layer, tuple(probe.position), list(units), {"curves": curves},
                               preferred_curves(curves, probe.field_size))
    t = result.tunings
    if "lines" in experiments:
        t["lines"] = sweeps.line_tuning(probe, units, scale=scale, orientations=np.arange(0, 180, step))
    if "angles" in experiments:
        t["angles"] = sweeps.angle_tuning(probe, units, scale=scale, orientations=coarse)
    if "morphs" in experiments:
        t["morphs"] = sweeps.morph_tuning(probe, units, scale=scale, orientations=coarse)
    if "fill" in experiments:
        t["fill"] = sweeps.fill_colour_tuning(probe, units, scale=scale, orientations=coarse)
    if "tangent" in experiments:
        t["tangent"] = {u: sweeps.tangent_line_tuning(probe, [u], scale=scale, orientation_deg=o, radius=r)
                        for u, (o, r) in result.preferred.items()}
    if "joint" in experiments:
        t["joint"] = joint.joint_tuning(probe, {u: o for u, (o, _) in result.preferred.items()}, stats)
    return result


def preferred_curves(curves, field_size: float) -> dict[int, tuple[float, float]]:
    """unit -> (orientation, radius as a fraction of the field) of its strongest curve."""
    z = np.nan_to_num(curves.z, nan=-np.inf)
    out = {}
    for u in curves.units:
        o, r = np.unravel_index(np.argmax(z[..., curves.column(u)]), z.shape[:2])
        out[u] = (float(curves.axes["orientation_deg"][o]), float(curves.axes["radius"][r] / field_size))
    return out
