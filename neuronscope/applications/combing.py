"""Combing: curve (and line) units respond more to a curve with short strokes perpendicular to it,
like the teeth of a comb or a fur boundary ("Curve Detectors").

    result = combing(model, "block6_expand")            # every curve-family unit, in dataset SDs
    result.index                                        # (units, modes): combed minus plain, SDs
    survey = combing_survey(model)                      # curve and line families of the layers
    fig = combing_figure(survey)

Stimuli (`combed`): the unit's preferred stimulus (a `neuronscope.stimuli.curves` arc at its
preferred orientation and radius, or a straight segment for a line unit, black on white as in the
tuning sweeps) alone ("plain") and with short strokes every `spacing` px along it, symmetric about
its midpoint: perpendicular to it on the inside ("inward"), the outside ("outward") or both
("both"), or, as a control with the same ink, parallel to it ("parallel": a tangent stroke of the
same length centred `length / 2 + stroke_width` px outside the curve). A combed image is the plain
one with the strokes' ink added (the maximum of the two coverages), nothing else.

Combing index of a unit and mode: its response to the combed stimulus minus its response to the
plain one, in the layer's dataset standard deviations (`neuronscope.tuning.units`), averaged over
the stroke lengths and spacings (each kept in `delta`). Positive: the strokes excite the unit.

From feature visualisations (`visualization_combing`): the share of gradient energy, within the
unit's receptive field, across the direction of the unit's preferred curve continued as concentric
circles (strokes perpendicular to the curve) against along it (strokes parallel to it): 0 for
pure concentric curves, 0.5 for no preference. The same number is computed on the plain and combed
stimuli so the two can be compared.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from neuronscope.errors import NeuronscopeError

MODES = ("inward", "outward", "both", "parallel")
_FLAGS = {"plain": (0, 0, 0), "inward": (1, 0, 0), "outward": (0, 1, 0), "both": (1, 1, 0), "parallel": (0, 0, 1)}
LENGTHS = (0.05, 0.1, 0.15)    # stroke lengths, fractions of the receptive field
SPACINGS = (0.06, 0.12)        # stroke spacings along the curve, fractions of the receptive field


def combed(orientation_deg, radius, inward=0.0, outward=0.0, parallel=0.0, *, stroke_length=8.0, spacing=8.0,
           arc_length=None, size=224, center=None, stroke_width=3.0, foreground="black", background="white",
           device=None) -> torch.Tensor:
    """(N, 3, H, W) arcs as `neuronscope.stimuli.curves` draws them (same arguments), with strokes
    of `stroke_length` px every `spacing` px along the arc where `inward`, `outward` (perpendicular)
    or `parallel` is 1 (per stimulus, 0 or 1). With all three 0 it is exactly `stimuli.curves`."""
    from neuronscope.stimuli import geometry as g
    from neuronscope.stimuli.params import broadcast, vector
    from neuronscope.stimuli.render import image_size, render, resolve_device

    hw = image_size(size)
    p = broadcast(theta=vector("orientation_deg", orientation_deg), radius=vector("radius", radius),
                  length=vector("arc_length", min(hw) / 2 if arc_length is None else arc_length),
                  width=vector("stroke_width", stroke_width), inward=vector("inward", inward),
                  outward=vector("outward", outward), parallel=vector("parallel", parallel),
                  stroke=vector("stroke_length", stroke_length), spacing=vector("spacing", spacing))
    if not bool(((p["radius"] > 0) & (p["length"] > 0) & p["length"].isfinite() & (p["spacing"] > 0)
                 & (p["stroke"] > 0) & (p["width"] >= 0)).all()):
        raise NeuronscopeError("radius, arc_length, spacing and stroke_length must be > 0, stroke_width >= 0")
    half_length = torch.minimum(p["length"] / 2, math.pi * p["radius"])
    k = 1 / p["radius"]
    n_strokes = int(torch.ceil((half_length / p["spacing"]).max()).item()) + 1

    def coverage(u, v, k, half_length, half_angle, width, inward, outward, parallel, stroke, spacing):
        u = u.abs()  # the shape and its strokes are symmetric about the arc's midpoint
        ink = g.band_coverage(g.arc_distance(u, v, k, half_length, half_angle), width)
        far = torch.full_like(u, math.inf)
        d = far
        for j in range(n_strokes):
            s = j * spacing
            ok = s <= half_length + 1e-6
            phi = s * k
            pu, pv = g.arc_end(s, phi)                           # the point s along the arc, and its
            nu, nv = torch.sin(phi), torch.cos(phi)              # outward normal and tangent
            tu, tv = torch.cos(phi), -torch.sin(phi)
            out = g.segment_distance(u, v, (pu, pv), (nu, nv), stroke)
            inn = g.segment_distance(u, v, (pu, pv), (-nu, -nv), stroke)
            off = stroke / 2 + width
            par = g.segment_distance(u, v, (pu + off * nu - stroke / 2 * tu, pv + off * nv - stroke / 2 * tv),
                                     (tu, tv), stroke)
            for dist, flag in ((out, outward), (inn, inward), (par, parallel)):
                d = torch.minimum(d, torch.where(ok & (flag > 0), dist, far))
        return torch.maximum(ink, g.band_coverage(d, width))

    params = dict(theta=torch.deg2rad(p["theta"]), k=k, half_length=half_length, half_angle=half_length * k,
                  width=p["width"], inward=p["inward"], outward=p["outward"], parallel=p["parallel"],
                  stroke=p["stroke"], spacing=p["spacing"])
    return render(coverage, params, size=hw, center=center, foreground=foreground, background=background,
                  device=resolve_device(device, orientation_deg))


def mode_flags(mode: str) -> dict[str, float]:
    """{"inward", "outward", "parallel"} flags of a mode ("plain" or one of MODES)."""
    if mode not in _FLAGS:
        raise NeuronscopeError(f"mode must be plain or one of {', '.join(MODES)}, got {mode!r}")
    return dict(zip(("inward", "outward", "parallel"), map(float, _FLAGS[mode])))


@dataclass
class Combing:
    """Combing indices of some units of one layer (one family kind)."""

    model: str
    layer: str
    kind: str                       # "curve" or "line"
    units: list[int]
    orientations: list[float]       # preferred orientation of each unit (degrees)
    radii: list[float]              # preferred radius of each unit (px; inf for lines)
    lengths: list[float]            # stroke lengths (px)
    spacings: list[float]           # stroke spacings (px)
    plain_z: np.ndarray             # (U,) response to the plain stimulus, dataset SDs
    delta: np.ndarray               # (U, modes, lengths, spacings): combed minus plain, dataset SDs
    unit_label: str
    field_size: float
    visualization: dict = field(default_factory=dict)   # unit -> share of perpendicular energy

    @property
    def index(self) -> np.ndarray:
        """(U, modes) combing index: `delta` averaged over stroke lengths and spacings."""
        return self.delta.mean(axis=(2, 3))

    def to_dict(self) -> dict:
        idx = self.index
        return {"model": self.model, "layer": self.layer, "kind": self.kind, "modes": list(MODES),
                "lengths_px": self.lengths, "spacings_px": self.spacings, "unit_of_index": self.unit_label,
                "units": [{"unit": u, "orientation_deg": o, "radius_px": None if not math.isfinite(r) else round(r, 2),
                           "plain_z": round(float(pz), 3),
                           "index": {m: round(float(idx[i, j]), 3) for j, m in enumerate(MODES)},
                           **({"visualization_perpendicular_share": round(self.visualization[u], 3)}
                              if u in self.visualization else {})}
                          for i, (u, o, r, pz) in enumerate(zip(self.units, self.orientations, self.radii,
                                                                self.plain_z))]}


def combing(model, layer: str | None = None, kind: str = "curve", units=None, *, family=None, position=None,
            input_size: int = 224, lengths=LENGTHS, spacings=SPACINGS, arc_length: float = 0.5,
            scale=None, batch_size: int = 256) -> Combing:
    """Combing indices of the members of `layer`'s `kind` family (`find_family`, cached), or of
    `units` of it; the stimuli are centred on the unit's receptive field at `position` (default
    central) of `input_size` inputs. `lengths`, `spacings` and `arc_length` are fractions of the
    field."""
    from neuronscope.applications.extract import family_of
    from neuronscope.tuning import probe as probes
    from neuronscope.tuning.sweeps import STYLE
    from neuronscope.tuning.units import dataset_units

    layer = layer or model.default_layer
    family = family or family_of(model, layer, kind)
    members = {m.unit: m for m in family.members}
    units = list(members) if units is None else [int(u) for u in units]
    missing = [u for u in units if u not in members]
    if missing:
        raise NeuronscopeError(f"units {missing} are not members of the {kind} family of {layer}")
    if not units:
        raise NeuronscopeError(f"no {kind} family in {model.name} {layer}: nothing to measure")
    probe = probes.make_probe(model, layer, position, input_size)
    scale = scale or dataset_units(model, probe.layer)
    side = probe.field_size
    lengths_px = [float(v) * side for v in lengths]
    spacings_px = [float(v) * side for v in spacings]
    conditions = [("plain", lengths_px[0], spacings_px[0])] + [(m, ln, sp) for m in MODES for ln in lengths_px
                                                               for sp in spacings_px]
    orientations, radii, plain, delta = [], [], [], []
    for u in units:
        theta, radius = members[u].orientation_deg, preferred_radius(family, u)
        params = {"orientation_deg": torch.full((len(conditions),), float(theta), dtype=torch.float64),
                  "radius": torch.full((len(conditions),), float(radius), dtype=torch.float64),
                  "stroke_length": torch.tensor([c[1] for c in conditions], dtype=torch.float64),
                  "spacing": torch.tensor([c[2] for c in conditions], dtype=torch.float64),
                  **{k: torch.tensor([mode_flags(c[0])[k] for c in conditions], dtype=torch.float64)
                     for k in ("inward", "outward", "parallel")}}
        raw = probe.measure(combed, params, units=[u], batch_size=batch_size, arc_length=arc_length * side,
                            **STYLE)[:, 0].double().numpy()
        z = scale.z(raw[:, None], [u])[:, 0]
        orientations.append(float(theta))
        radii.append(float(radius))
        plain.append(z[0])
        delta.append((z[1:] - z[0]).reshape(len(MODES), len(lengths_px), len(spacings_px)))
    return Combing(model.name, probe.layer, kind, units, orientations, radii, lengths_px, spacings_px,
                   np.asarray(plain), np.asarray(delta), scale.label, side)


def preferred_radius(family, unit: int) -> float:
    """The radius (px) at which a curve unit's family tuning peaked; inf for a line family."""
    if family.kind != "curve":
        return math.inf
    tuning = family.tunings["curves"]
    z = np.nan_to_num(tuning.z[..., tuning.column(unit)], nan=-np.inf)   # (orientation, radius)
    return float(tuning.axes["radius"][int(np.argmax(z.max(axis=0)))])


def combing_survey(model, layers=None, kinds=("curve", "line"), **kwargs) -> list[Combing]:
    """`combing` for every non-empty family of `kinds` in `layers` (default: the model's curve layer)."""
    from neuronscope.applications.extract import family_of

    out = []
    for layer in layers or [model.default_layer]:
        for kind in kinds:
            if family_of(model, layer, kind).members:
                out.append(combing(model, layer, kind, **kwargs))
    return out


def run_combing(model, layers=None, kinds=("curve", "line"), *, featvis_steps: int = 256, out_dir=None
                ) -> tuple[list[Combing], dict]:
    """The whole combing experiment: `combing_survey`, the curve units' visualisation shares
    (`featvis_steps` 0 skips them) and the stimuli's shares for comparison. With `out_dir`, writes
    combing.json and combing.png there. Returns the results and the JSON document."""
    import json
    from pathlib import Path

    results = combing_survey(model, layers, kinds)
    doc = {"results": []}
    for r in results:
        if featvis_steps and r.kind == "curve":
            visualization_combing(model, r, steps=featvis_steps)
        entry = r.to_dict()
        entry["stimulus_perpendicular_share"] = {k: round(v, 3) for k, v in stimulus_shares(r).items()}
        doc["results"].append(entry)
    if out_dir is not None and results:
        from neuronscope.applications.figures import combing_figure, save

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "combing.json").write_text(json.dumps(doc, indent=1) + "\n")
        save(combing_figure(results), out / "combing.png")
    return results, doc


# -- combing in feature visualisations ---------------------------------------------------------
def perpendicular_share(image, center, orientation_deg: float, radius: float, window: float) -> float:
    """Share of the image's gradient energy across the directions of a curve with outward normal
    `orientation_deg` and `radius` (px, inf for a line) whose midpoint is at `center` (row, col),
    continued as concentric circles: strokes perpendicular to it put their energy there, strokes
    parallel to it (and the curve itself) the other way. Weighted by a Gaussian window of sigma
    `window` px around `center`."""
    from scipy.ndimage import gaussian_filter

    from neuronscope.applications.bench import grey

    a = grey(image)
    gr, gc = gaussian_filter(a, 1.0, order=(1, 0)), gaussian_filter(a, 1.0, order=(0, 1))
    rows, cols = np.mgrid[0:a.shape[0], 0:a.shape[1]].astype(np.float64)
    theta = math.radians(orientation_deg)
    nr, nc = -math.sin(theta), math.cos(theta)                  # outward normal in (row, col)
    if math.isfinite(radius):
        dr, dc = rows - (center[0] - radius * nr), cols - (center[1] - radius * nc)
        norm = np.hypot(dr, dc) + 1e-9
        rr, rc = dr / norm, dc / norm                            # normal of the concentric circle
    else:
        rr, rc = np.full_like(rows, nr), np.full_like(cols, nc)
    along_normal = (gr * rr + gc * rc) ** 2                     # edges parallel to the curve
    across = (gr * -rc + gc * rr) ** 2                          # edges perpendicular to it
    w = np.exp(-((rows - center[0]) ** 2 + (cols - center[1]) ** 2) / (2 * window ** 2))
    total = float((w * (along_normal + across)).sum())
    if not total > 0:
        raise NeuronscopeError("the image is flat in the window: no gradient energy")
    return float((w * across).sum()) / total


def visualization_combing(model, result: Combing, images=None, *, steps: int = 256, size: int = 128,
                          seed: int = 0) -> dict[int, float]:
    """`perpendicular_share` of each unit's feature visualisation (`ns.visualize` of the unit at
    the central position of `size` inputs, or the given `images`, one per unit), stored in
    `result.visualization` and returned; plus, for comparison, the plain and combed ("both",
    middle length and spacing) stimuli of the first unit under keys "plain" and "combed"."""
    from neuronscope.optvis import visualize

    rf = model.receptive_field(result.layer, size)
    center = rf.center(*rf.central_position())
    if images is None:
        images = visualize(model, [f"{result.layer}:{u}" for u in result.units], steps=steps, size=size, seed=seed,
                           progress=False)
    window = result.field_size / 4
    shares = {u: perpendicular_share(img, center, o, r, window)
              for u, img, o, r in zip(result.units, images, result.orientations, result.radii)}
    result.visualization.update(shares)
    return shares


def stimulus_shares(result: Combing, unit_index: int = 0, size: int = 128) -> dict[str, float]:
    """`perpendicular_share` of the plain and of every combed stimulus of one unit (middle length and
    spacing), drawn centred in a `size` image: the scale the visualisations' shares are read on."""
    o, r = result.orientations[unit_index], result.radii[unit_index]
    c = ((size - 1) / 2, (size - 1) / 2)
    out = {}
    for mode in ("plain", *MODES):
        img = example_stimulus(result, unit_index, mode, size)
        out[mode] = perpendicular_share(img, c, o, r, result.field_size / 4)
    return out


def example_stimulus(result: Combing, unit_index: int, mode: str, size: int = 128) -> np.ndarray:
    """(3, size, size) stimulus of one unit and mode (middle stroke length and spacing), centred."""
    from neuronscope.tuning.sweeps import STYLE

    ln, sp = result.lengths[len(result.lengths) // 2], result.spacings[len(result.spacings) // 2]
    radius = result.radii[unit_index]
    img = combed(result.orientations[unit_index], radius if math.isfinite(radius) else math.inf,
                 **mode_flags(mode), stroke_length=ln, spacing=sp, arc_length=0.5 * result.field_size, size=size,
                 **STYLE)
    return img[0].numpy()


# -- removing combing by circuit editing ---------------------------------------------------------
def decomb_edits(model, layer: str | None = None, source: str = "block4_expand", within: float = 30.0,
                 scale: float = 0.0) -> list:
    """Weight edits meant to remove combing: for every member of `layer`'s curve family, its positive
    expanded weights from the members of `source`'s line family whose orientation is within
    `within` degrees of perpendicular to the curve (a stroke across the curve), scaled by `scale`."""
    from neuronscope.applications.extract import family_of
    from neuronscope.circuits import WeightEdit
    from neuronscope.families import angular_distance

    layer = layer or model.default_layer
    lines = family_of(model, source, "line").members
    if not lines:
        raise NeuronscopeError(f"no line family in {model.name} {source} to edit")
    edits = []
    for m in family_of(model, layer, "curve").members:
        across = (m.orientation_deg + 90.0) % 180.0
        units = [s.unit for s in lines if angular_distance(s.orientation_deg, across, 180.0) <= within]
        if units:
            edits.append(WeightEdit(source, layer, units, [m.unit], sign="positive", scale=scale, path="expanded"))
    return edits
