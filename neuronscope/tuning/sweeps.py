"""Tuning experiments: grids of synthetic stimuli centred on a probe's receptive field, with
sizes in units of that field, rendered at the probe's minimal input size and evaluated in batches.

Every experiment renders and evaluates through `Probe.measure` and returns a `Tuning` with one
leading dimension per stimulus axis; those that sweep renderer arguments use `grid`.
Defaults: orientations every 5 degrees; radii from 1/16 of the field to the whole field,
evenly spaced in log; arcs as long as half the field (the same ink at every radius);
3 px black strokes on white.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neuronscope import stimuli
from neuronscope.errors import NeuronscopeError
from neuronscope.tuning.probe import Probe
from neuronscope.tuning.result import Tuning
from neuronscope.tuning.units import Units, dataset_units

STYLE = {"stroke_width": 3.0, "foreground": "black", "background": "white"}


def default_radii(count: int = 16) -> np.ndarray:
    """Radii as fractions of the receptive field's side."""
    return np.geomspace(1 / 16, 1, count)


def grid(probe: Probe, kind: str, render, axes: dict, *, units=None, scale: Units | None = None,
         batch_size: int = 256, **fixed) -> Tuning:
    """Responses to every combination of `axes` (renderer argument -> values; the first varies
    slowest); `fixed` are further renderer arguments shared by all stimuli."""
    units = _units(probe, units)
    scale = scale or dataset_units(probe.model, probe.layer)
    names = list(axes)
    values = stimuli.sweep(*(np.asarray(axes[n], np.float64) for n in names), device=probe.device)
    raw = probe.measure(render, dict(zip(names, values)), units=units, batch_size=batch_size, **fixed)
    shape = [len(axes[n]) for n in names]
    meta = {**describe(probe), "stimulus": {k: _plain(v) for k, v in fixed.items()}}
    return Tuning(kind, {n: np.asarray(axes[n], np.float64) for n in names},
                  raw.double().numpy().reshape(*shape, len(units)), units, scale,
                  probe.model.activations[probe.layer], meta)


def curve_tuning(probe: Probe, units=None, *, scale: Units | None = None, orientations=None, radii=None,
                 arc_length: float = 0.5, batch_size: int = 256, **style) -> Tuning:
    """Orientation x radius responses to arcs. `radii` and `arc_length` are fractions of the field."""
    side = probe.field_size
    radii = default_radii() if radii is None else np.asarray(radii, np.float64)
    axes = {"orientation_deg": _orientations(orientations, 5.0, 360), "radius": radii * side}
    return grid(probe, "curves", stimuli.curves, axes, units=units, scale=scale, batch_size=batch_size,
                arc_length=arc_length * side, **{**STYLE, **style})


def line_tuning(probe: Probe, units=None, *, scale: Units | None = None, orientations=None, offsets=(0.0,),
                length: float = 0.5, batch_size: int = 256, **style) -> Tuning:
    """Orientation (over 180 degrees) x offset responses to straight segments; `offsets` (along
    the normal) and `length` are fractions of the field."""
    side = probe.field_size
    axes = {"orientation_deg": _orientations(orientations, 5.0, 180),
            "offset": np.asarray(offsets, np.float64) * side}
    return grid(probe, "lines", stimuli.lines, axes, units=units, scale=scale, batch_size=batch_size,
                length=length * side, **{**STYLE, **style})


def angle_tuning(probe: Probe, units=None, *, scale: Units | None = None, orientations=None,
                 openings=np.arange(15.0, 181.0, 15.0), arm_length: float = 0.25, batch_size: int = 256,
                 **style) -> Tuning:
    """Orientation x opening-angle responses to angles with arms a fraction `arm_length` of the field."""
    axes = {"orientation_deg": _orientations(orientations, 10.0, 360), "opening_deg": np.asarray(openings, float)}
    return grid(probe, "angles", stimuli.angles, axes, units=units, scale=scale, batch_size=batch_size,
                arm_length=arm_length * probe.field_size, **{**STYLE, **style})


def morph_tuning(probe: Probe, units=None, *, scale: Units | None = None, orientations=None,
                 roundness=np.linspace(0, 1, 11), opening_deg: float = 90.0, arm_length: float = 0.25,
                 batch_size: int = 256, **style) -> Tuning:
    """Orientation x roundness responses along the angle-to-curve morph (`stimuli.angle_to_curve`)."""
    axes = {"orientation_deg": _orientations(orientations, 10.0, 360), "roundness": np.asarray(roundness, float)}
    return grid(probe, "morphs", stimuli.angle_to_curve, axes, units=units, scale=scale, batch_size=batch_size,
                opening_deg=opening_deg, arm_length=arm_length * probe.field_size, **{**STYLE, **style})


def fill_colour_tuning(probe: Probe, units=None, *, scale: Units | None = None, orientations=None,
                       radius: float = 0.25, arc_length: float = 0.5, colours: int = 8, seed: int = 0,
                       batch_size: int = 256, stroke_width: float = 3.0) -> Tuning:
    """Condition x orientation responses to one arc (`radius`, `arc_length`: fractions of the
    field) drawn as an outline, filled, in inverted polarity, and in `colours` seeded random
    foreground/background colour pairs (distinct in luma): fill and colour invariance."""
    side = probe.field_size
    units = _units(probe, units)
    scale = scale or dataset_units(probe.model, probe.layer)
    theta = torch.as_tensor(_orientations(orientations, 10.0, 360), dtype=torch.float32)
    fg, bg = stimuli.random_color_pairs(colours, seed=seed)
    black, white = torch.zeros(1, 3), torch.ones(1, 3)
    fg, bg = torch.cat([black, white, fg]), torch.cat([white, black, bg])  # outline, inverted, colour pairs
    fixed = dict(radius=radius * side, arc_length=arc_length * side, stroke_width=stroke_width)
    stroked = probe.measure(stimuli.curves, {"orientation_deg": theta.repeat(len(fg)),
                                             "foreground": fg.repeat_interleave(len(theta), 0),
                                             "background": bg.repeat_interleave(len(theta), 0)},
                            units=units, batch_size=batch_size, **fixed).view(len(fg), len(theta), -1)
    filled = probe.measure(stimuli.curves, {"orientation_deg": theta}, units=units, batch_size=batch_size,
                           filled=True, foreground="black", background="white", **fixed)
    raw = torch.cat([stroked[:1], filled[None], stroked[1:]]).double().numpy()
    conditions = ["outline", "filled", "inverted", *(f"colour {i}" for i in range(colours))]
    meta = {**describe(probe), "conditions": conditions,
            "stimulus": {**fixed, "colour_pairs": {"foreground": fg[2:].tolist(), "background": bg[2:].tolist()}}}
    return Tuning("fill_colour", {"condition": np.arange(len(conditions), dtype=np.float64),
                                  "orientation_deg": theta.double().numpy()},
                  raw, units, scale, probe.model.activations[probe.layer], meta)


def tangent_line_tuning(probe: Probe, units=None, *, scale: Units | None = None, orientation_deg: float,
                        radius: float = 0.25, arc_length: float = 0.5, positions: int = 9,
                        line_orientations=None, line_length: float = 0.08, batch_size: int = 256,
                        **style) -> Tuning:
    """Short line segments (`line_length` of the field) centred at `positions` points along the
    arc of `orientation_deg` and `radius`, at every line orientation (0-180): which orientations
    excite or inhibit the unit at each place along the curve. `meta["tangent_deg"]` is the
    curve's own normal at each position (a line matching the curve there has that orientation)."""
    side = probe.field_size
    r = radius * side
    s = np.linspace(-0.5, 0.5, positions) * min(arc_length * side, 2 * np.pi * r)
    line_theta = _orientations(line_orientations, 10.0, 180)
    alpha = s / r  # angle along the arc from its midpoint; the normal there is orientation + alpha
    theta = np.deg2rad(orientation_deg)
    u, v = r * np.sin(alpha), r * (np.cos(alpha) - 1)  # tangent and normal coordinates on the arc
    x = -u * np.sin(theta) + v * np.cos(theta)
    y = u * np.cos(theta) + v * np.sin(theta)
    cy, cx = probe.center
    centers = torch.tensor(np.stack([cy - y, cx + x], axis=1), dtype=torch.float32)
    params = {"center": centers.repeat_interleave(len(line_theta), dim=0),
              "orientation_deg": torch.as_tensor(line_theta, dtype=torch.float32).repeat(positions)}
    units = _units(probe, units)
    scale = scale or dataset_units(probe.model, probe.layer)
    fixed = {**STYLE, **style, "length": line_length * side}
    raw = probe.measure(stimuli.lines, params, units=units, batch_size=batch_size, **fixed)
    meta = {**describe(probe), "stimulus": {k: _plain(v) for k, v in fixed.items()},
            "curve": {"orientation_deg": orientation_deg, "radius": r},
            "tangent_deg": ((orientation_deg + np.rad2deg(alpha)) % 180).round(2).tolist()}
    return Tuning("tangent_lines", {"position": s, "orientation_deg": line_theta},
                  raw.double().numpy().reshape(positions, len(line_theta), len(units)), units, scale,
                  probe.model.activations[probe.layer], meta)


def describe(probe: Probe) -> dict:
    return {"model": probe.model.name, "layer": probe.layer, "position": list(probe.position),
            "field_size_px": probe.field_size, "input_window": {"offset": list(probe.offset), "size": list(probe.size)}}


def _units(probe: Probe, units) -> list[int]:
    """The requested units (default all) of the probe's layer, checked."""
    channels = probe.channels
    if units is None:
        return list(range(channels))
    units = [int(u) for u in ([units] if isinstance(units, int) else units)]
    bad = [u for u in units if not 0 <= u < channels]
    if bad or not units:
        raise NeuronscopeError(f"{probe.layer} has units 0-{channels - 1}; got {bad[0] if bad else 'none'}")
    return units


def _orientations(values, step: float, turn: int) -> np.ndarray:
    return np.arange(0.0, turn, step) if values is None else np.asarray(values, np.float64)


def _plain(value):
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
