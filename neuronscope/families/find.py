"""Find the units of a layer that form a family of curve (or line) detectors.

Every unit is measured at one position (default the central one) with `neuronscope.tuning`
sweeps, in dataset SDs, and scored:

- curve: peak response to arcs (orientation every `step_deg` x 8 radii from 1/16 of the field
  to the field, arcs half the field long) of at least `min_peak` SDs; orientation selectivity
  ((max - mean) / max of the orientation tuning at the best radius) of at least
  `min_selectivity`; the preferred orientation at every radius that drives the unit to half its
  peak or more, and is modulated by orientation at least half as deeply, within `max_drift`
  degrees of the overall one; and a peak at least `min_contrast` (a fraction of the peak) above
  the best response to straight segments and to 60 and 90 degree angles (blunter angles are
  nearly curves).
- line: the same on straight segments (orientation modulo 180) at offsets 0 and +-0.15 field
  along the normal, against clearly curved arcs (radius at most a quarter of the field).

The defaults were set on EfficientNet-Lite0 and on planted families (see the tests).

Members are reported with preferred orientation, peak, tuning width and echo (a secondary
peak about 180 degrees away; curves only), ordered by orientation.
"""

from __future__ import annotations

import numpy as np

from neuronscope.errors import NeuronscopeError
from neuronscope.families.family import KINDS, Family, Member
from neuronscope.families.score import angular_distance, tuning_peak
from neuronscope.tuning import probe as probes
from neuronscope.tuning import sweeps
from neuronscope.tuning.result import Tuning
from neuronscope.tuning.units import dataset_units


def find_family(model, layer: str | None = None, kind: str = "curve", *, position=None, input_size: int = 224,
                stats=None, images=None, limit: int | None = None,
                min_peak: float = 4.0, min_selectivity: float = 0.4, max_drift: float = 30.0,
                min_contrast: float = 0.15, step_deg: float = 10.0, batch_size: int = 256,
                **style) -> Family:
    """Score every unit of `layer` (default `model.default_layer`) as a `kind` ("curve" or "line")
    detector and return the family of those that pass (see the module docstring), measured at
    `position` (default central) of the layer's grid for `input_size` inputs. Units are dataset
    SDs from `stats` (a `neuronscope.dataset` result) or computed over `images` (`limit`: a
    seeded random subset of them)."""
    if kind not in KINDS:
        raise NeuronscopeError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    probe = probes.make_probe(model, layer, position, input_size)
    scale = dataset_units(model, probe.layer, stats, images, limit=limit)
    common = dict(scale=scale, batch_size=batch_size, **style)
    curves = sweeps.curve_tuning(probe, orientations=np.arange(0, 360, step_deg),
                                 radii=sweeps.default_radii(8), **common)
    if kind == "curve":
        lines = sweeps.line_tuning(probe, orientations=np.arange(0, 180, step_deg), offsets=(0.0,), **common)
        angles = sweeps.angle_tuning(probe, orientations=np.arange(0, 360, step_deg), openings=(60, 90),
                                     **common)
        tunings = {"curves": curves, "lines": lines, "angles": angles}
        main, others, period = curves, [lines, angles], 360.0
    else:
        lines = sweeps.line_tuning(probe, orientations=np.arange(0, 180, step_deg / 2),
                                   offsets=(-0.15, 0.0, 0.15), **common)
        curved = curves.axes["radius"] <= probe.field_size / 4
        tunings = {"curves": curves, "lines": lines}
        main, period = lines, 180.0
        others = [Tuning(curves.kind, curves.axes, curves.raw[:, curved], curves.units, scale, curves.activation)]
    scores = score_units(main, others, period)
    passed = ((scores["peak_z"] >= min_peak) & (scores["selectivity"] >= min_selectivity)
              & (scores["drift_deg"] <= max_drift) & (scores["contrast"] >= min_contrast))
    scores["member"] = passed
    members = [Member(int(u), round(float(scores["orientation_deg"][u]), 1), round(float(scores["peak_z"][u]), 2),
                      round(float(scores["width_deg"][u]), 1),
                      round(float(scores["echo"][u]), 3) if kind == "curve" else None)
               for u in np.flatnonzero(passed)]
    members.sort(key=lambda m: m.orientation_deg)
    return Family(tuple(members), probe.layer, kind, model=model.name, position=tuple(probe.position),
                  unit_label=scale.label, scores=scores, tunings=tunings)


def score_units(main: Tuning, others: list[Tuning], period: float) -> dict[str, np.ndarray]:
    """Per-unit scores from `main` (orientation x size/offset x unit, in SDs) against the best
    response to each of `others`."""
    z = np.nan_to_num(main.z, nan=-np.inf)
    theta = main.axes["orientation_deg"]
    units = len(main.units)
    out = {k: np.full(units, np.nan) for k in
           ("peak_z", "orientation_deg", "width_deg", "selectivity", "echo", "drift_deg", "contrast")}
    out["other_z"] = np.max([np.nan_to_num(t.z, nan=-np.inf).reshape(-1, units).max(0) for t in others], axis=0)
    for u in range(units):
        curves = z[..., u].reshape(len(theta), -1)
        peak = curves.max()
        if not np.isfinite(peak):
            continue
        best = int(np.argmax(curves.max(0)))
        p = tuning_peak(theta, curves[:, best], period)
        depth = curves.max(0) - curves.min(0)
        strong = np.flatnonzero((curves.max(0) >= peak / 2) & (depth >= depth[best] / 2)) if peak > 0 else [best]
        drift = max(angular_distance(tuning_peak(theta, curves[:, s], period).orientation, p.orientation, period)
                    for s in strong)
        out["peak_z"][u], out["orientation_deg"][u], out["width_deg"][u] = peak, p.orientation, p.width
        out["selectivity"][u], out["echo"][u], out["drift_deg"][u] = p.selectivity, p.echo, drift
        out["contrast"][u] = (peak - max(out["other_z"][u], 0.0)) / peak if peak > 0 else -np.inf
    return out
