"""Universality: do curve (and line) detector families show up in several models, and how much
should we trust each one?

For each model, `find_family` runs at every suitable layer (cheap settings: a coarse orientation
step) for curves and lines; the best curve layer (most members, then smallest largest gap) and
the best line layer are kept. The same architecture with random weights (`random_control`: every
module's own initialisation, seeded) is scanned at the same layers: the family finder should
find little or nothing there, and what it does find there is a false member.

`find_family`'s thresholds (peak, selectivity, drift, contrast) were set on one model, so for
every member we report how far it clears each of them (its margin, as a fraction of the
threshold) and, on the controls, how many units each threshold lets through: units passing that
threshold, and units that would be false members without it (they pass all the others).

Each model's best curve family is also combed (`neuronscope.applications.combing`): every member's
combing index (combed minus plain stimulus, the scan's dataset SDs) by mode; the table shows the
members' median for strokes across the curve on both sides ("both") and for the parallel-stroke
control.
"""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from neuronscope.applications.combing import MODES, Combing, combing
from neuronscope.errors import NeuronscopeError
from neuronscope.families import find_family
from neuronscope.families.family import Family
from neuronscope.tuning.units import dataset_stats, units_of

# Each threshold of `find_family`: its keyword, the score it bounds, and whether scores must be at
# least (+1) or at most (-1) the threshold.
THRESHOLDS = {"min_peak": ("peak_z", +1), "min_selectivity": ("selectivity", +1),
              "max_drift": ("drift_deg", -1), "min_contrast": ("contrast", +1)}
KINDS = ("curve", "line")


def thresholds() -> dict[str, float]:
    """`find_family`'s default thresholds (read from its signature, so they cannot drift apart)."""
    params = inspect.signature(find_family).parameters
    return {name: float(params[name].default) for name in THRESHOLDS}


def clearance(family: Family, limits: dict[str, float] | None = None) -> list[dict]:
    """For each member, how far it clears each threshold, as a fraction of the threshold
    (0: just passes; 1: twice the minimum), and which threshold it clears least."""
    limits = limits or thresholds()
    rows = []
    for m in family.members:
        margins = {}
        for name, (score, sign) in THRESHOLDS.items():
            value, limit = float(family.scores[score][m.unit]), limits[name]
            margins[name] = round(sign * (value - limit) / abs(limit), 3)
        rows.append({"unit": m.unit, "orientation_deg": m.orientation_deg, **margins,
                     "closest": min(margins, key=margins.get)})
    return rows


def threshold_counts(family: Family, limits: dict[str, float] | None = None) -> dict[str, dict[str, int]]:
    """On a family's scores (a control's): per threshold, the units passing it and the units that
    pass every other threshold but not it (what it alone keeps out); and the members."""
    limits = limits or thresholds()
    passed = {}
    for name, (score, sign) in THRESHOLDS.items():
        values = np.nan_to_num(np.asarray(family.scores[score], float), nan=-np.inf if sign > 0 else np.inf)
        passed[name] = sign * (values - limits[name]) >= 0
    out = {}
    for name in THRESHOLDS:
        others = np.all([passed[o] for o in THRESHOLDS if o != name], axis=0)
        out[name] = {"pass": int(passed[name].sum()), "kept_out_only_by_this": int((others & ~passed[name]).sum())}
    out["members"] = {"pass": int(np.all(list(passed.values()), axis=0).sum()), "kept_out_only_by_this": 0}
    return out


def random_control(model, seed: int = 0):
    """A copy of `model` with every module's parameters (and batch-norm statistics) drawn afresh
    by its own initialisation, seeded; the model itself is untouched."""
    control = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in control.net.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    control.net.eval()
    control.name = f"{model.name} (random weights, seed {seed})"
    if hasattr(control, "_fields"):
        control._fields = {}
    return control


def suitable_layers(model, strides=(8, 16), input_size: int | None = None, match: str | None = None,
                    max_layers: int | None = None) -> list[str]:
    """Layers followed by an activation whose positions are `strides` input pixels apart (and whose
    name contains `match`); at most `max_layers` of them, evenly spaced in depth."""
    size = input_size or model.input_size
    shapes = model.layer_shapes(size)
    out = []
    for name, shape in shapes.items():
        if len(shape) != 3 or model.activations.get(name) is None or (match and match not in name):
            continue
        if model.receptive_field(name, size).stride[0] in strides:
            out.append(name)
    if max_layers and len(out) > max_layers:
        out = [out[i] for i in np.unique(np.linspace(0, len(out) - 1, max_layers).round().astype(int))]
    return out


@dataclass
class ModelFamilies:
    """One model's scan: every layer's family of each kind, and the random control's."""

    model: str
    layers: list[str]
    families: dict[str, dict[str, Family]]           # kind -> layer -> family
    controls: dict[str, dict[str, Family]]           # kind -> layer -> the control's family
    pictures: dict[int, np.ndarray] = field(default_factory=dict)  # curve member -> feature visualisation
    combing: Combing | None = None                   # the best curve family's combing indices

    def best(self, kind: str) -> str | None:
        """The layer with the most members, then the smallest largest gap; None when every one is empty."""
        found = {k: f for k, f in self.families[kind].items() if len(f)}
        if not found:
            return None
        return min(found, key=lambda k: (-len(found[k]), float(found[k].gaps.max()), self.layers.index(k)))

    def summary(self) -> dict:
        out = {"model": self.model, "layers_scanned": self.layers}
        for kind in KINDS:
            best = self.best(kind)
            per_layer = {k: {"members": len(f), "control_members": len(self.controls[kind][k])}
                         for k, f in self.families[kind].items()}
            entry = {"best_layer": best, "per_layer": per_layer,
                     "control_members_all_layers": sum(len(f) for f in self.controls[kind].values())}
            if best is not None:
                fam, ctl = self.families[kind][best], self.controls[kind][best]
                entry.update({
                    "members": len(fam), "largest_gap_deg": round(float(fam.gaps.max()), 1),
                    "units": list(fam.units), "orientations_deg": list(fam.orientations),
                    "peak_sd": _stats([m.peak_z for m in fam.members]),
                    "width_deg": _stats([m.width_deg for m in fam.members]),
                    "clearance": clearance(fam), "control_members": len(ctl),
                    "control_thresholds": threshold_counts(ctl)})
                if kind == "curve" and self.combing is not None:
                    entry["combing"] = combing_summary(self.combing)
            out[kind] = entry
        return out


def combing_summary(result: Combing) -> dict:
    """The members' median combing index by mode and each member's, in the scan's dataset SDs."""
    doc = result.to_dict()
    median = {m: round(float(np.median(result.index[:, j])), 3) for j, m in enumerate(MODES)}
    return {"median_index": median, "unit_of_index": doc["unit_of_index"], "lengths_px": doc["lengths_px"],
            "spacings_px": doc["spacings_px"], "units": doc["units"]}


def _stats(values) -> dict:
    v = np.asarray(values, float)
    return {"min": round(float(v.min()), 2), "median": round(float(np.median(v)), 2), "max": round(float(v.max()), 2)}


@dataclass
class UniversalityResult:
    scans: list[ModelFamilies]
    settings: dict

    def summary(self) -> dict:
        return {"settings": self.settings, "thresholds": thresholds(), "models": [s.summary() for s in self.scans]}

    def table(self) -> str:
        """A Markdown table, one row per model."""
        head = ("| model | best curve layer | curve members (control) | largest gap | peak SDs (median) "
                "| width° (median) | combing index, both / parallel (median SDs) | least-cleared threshold (members) "
                "| best line layer | line members (control) |")
        rows = [head, "|" + " --- |" * 10]
        for s in self.scans:
            d = s.summary()
            c, ln = d["curve"], d["line"]
            if c["best_layer"]:
                closest = {}
                for r in c["clearance"]:
                    closest[r["closest"]] = closest.get(r["closest"], 0) + 1
                tight = ", ".join(f"{k} {v}" for k, v in sorted(closest.items(), key=lambda kv: -kv[1]))
                median = c["combing"]["median_index"] if "combing" in c else None
                combed = f"{median['both']:+.2f} / {median['parallel']:+.2f}" if median else "-"
                curve = (f"{c['best_layer']} | {c['members']} ({c['control_members']}) | {c['largest_gap_deg']}° | "
                         f"{c['peak_sd']['median']} | {c['width_deg']['median']} | {combed} | {tight}")
            else:
                curve = f"none | 0 ({c['control_members_all_layers']} over all layers) | - | - | - | - | -"
            line = (f"{ln['best_layer']} | {ln['members']} ({ln['control_members']})" if ln["best_layer"]
                    else f"none | 0 ({ln['control_members_all_layers']})")
            rows.append(f"| {s.model} | {curve} | {line} |")
        return "\n".join(rows)

    def save(self, out) -> list[Path]:
        """universality.json (the summary), universality.md (the table) and universality.png."""
        from neuronscope.tuning.figures import save

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "universality.json").write_text(json.dumps(self.summary(), indent=1) + "\n")
        (out / "universality.md").write_text(self.table() + "\n")
        figure = save(plot_universality(self), out / "universality.png")
        return [out / "universality.json", out / "universality.md", figure]

    def __repr__(self) -> str:
        return f"<UniversalityResult {', '.join(s.model for s in self.scans)}>"


def universality(models, *, layers: dict[str, list[str]] | None = None, strides=(8, 16), match: str | None = None,
                 max_layers: int | None = None, step_deg: float = 20.0, images=None, limit: int | None = None,
                 seed: int = 0, featvis_steps: int = 128, featvis_size: int = 64, combing_index: bool = True,
                 progress: bool = True) -> UniversalityResult:
    """Scan each model (a `Model` or a name for `load_model`) and its random-weight control.

    `layers`: model name -> layers to scan (default `suitable_layers(model, strides, match=match,
    max_layers=max_layers)`);
    `step_deg`: the orientation step of the sweeps (cheap: 20); `images`/`limit`: the photographs
    the dataset SDs come from (default scikit-image's); `seed`: the control's weights and the
    feature visualisations; `featvis_steps` = 0 skips the visualisations of the best curve family;
    `combing_index`: comb the best curve family's members (`applications.combing.combing` at the
    model's input size, in the scan's dataset SDs).
    """
    from neuronscope.models import load_model

    scans = []
    for model in models:
        model = load_model(model) if isinstance(model, str) else model
        names = (layers or {}).get(model.name) or suitable_layers(model, strides, match=match, max_layers=max_layers)
        if not names:
            raise NeuronscopeError(f"{model.name} has no layer at stride {strides} to scan")
        control = random_control(model, seed)
        common = dict(step_deg=step_deg, input_size=model.input_size)
        families = {k: {} for k in KINDS}
        controls = {k: {} for k in KINDS}
        scales = {}
        for name in _progress(names, f"scanning {model.name}", progress):
            for net, found in ((model, families), (control, controls)):
                stats = dataset_stats(net, name, None, images, limit=limit)  # shared by both kinds
                for kind in KINDS:
                    found[kind][name] = find_family(net, name, kind, stats=stats, **common)
                if net is model:
                    scales[name] = units_of(stats)
        scan = ModelFamilies(model.name, names, families, controls)
        best = scan.best("curve")
        if best is not None and combing_index:
            scan.combing = combing(model, best, "curve", family=families["curve"][best], scale=scales[best],
                                   input_size=model.input_size)
        if best is not None and featvis_steps > 0:
            from neuronscope.optvis import visualize

            units = list(scan.families["curve"][best].units)
            images_ = visualize(model, [f"{best}:{u}" for u in units], steps=featvis_steps, size=featvis_size,
                                seed=seed, progress=False)
            scan.pictures = {u: images_[i].permute(1, 2, 0).numpy() for i, u in enumerate(units)}
        scans.append(scan)
    settings = {"step_deg": step_deg, "strides": list(strides), "match": match, "max_layers": max_layers,
                "images": str(images) if images else "scikit-image", "limit": limit, "seed": seed,
                "featvis_steps": featvis_steps, "featvis_size": featvis_size, "combing": combing_index}
    return UniversalityResult(scans, settings)


def _progress(items, desc: str, show: bool):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="layer", disable=not show)


def plot_universality(result: UniversalityResult):
    """One column per model: the best curve family's members by orientation (spoke length: peak
    SDs; the random control's members at that layer in grey), tuning width by orientation, the
    members' feature visualisations, and the scan (members per layer, curves, lines, controls)."""
    from matplotlib.figure import Figure

    n = len(result.scans)
    fig = Figure(figsize=(4.2 * n, 13.5))
    grid = fig.add_gridspec(4, n, height_ratios=[1.2, 0.8, 1.0, 0.9], hspace=0.55, wspace=0.35)
    for col, scan in enumerate(result.scans):
        best = scan.best("curve")
        fam = scan.families["curve"].get(best) if best else None
        ctl = scan.controls["curve"].get(best) if best else None
        ax = fig.add_subplot(grid[0, col], projection="polar")
        if fam is not None:
            theta = np.deg2rad([m.orientation_deg for m in fam.members])
            ax.vlines(theta, 0, [m.peak_z for m in fam.members], color="tab:blue", lw=2, label="members")
            if ctl is not None and len(ctl):
                ax.vlines(np.deg2rad([m.orientation_deg for m in ctl.members]), 0, [m.peak_z for m in ctl.members],
                          color="0.6", lw=2, label="random-weight control")
            ax.set_title(f"{scan.model}\n{best}: {len(fam)} curve units, largest gap {fam.gaps.max():.0f}°\n"
                         f"(control: {len(ctl)})", fontsize=9)
        else:
            ax.set_title(f"{scan.model}\nno curve family found", fontsize=9)
        ax.tick_params(labelsize=7)
        if col == 0:
            ax.set_ylabel("peak (SDs)", fontsize=8, labelpad=22)
        ax = fig.add_subplot(grid[1, col])
        if fam is not None:
            ax.scatter([m.orientation_deg for m in fam.members], [m.width_deg for m in fam.members], s=14)
        ax.set_xlim(0, 360)
        ax.set_xticks(range(0, 361, 90))
        ax.set_xlabel("preferred orientation (°)", fontsize=8)
        ax.set_ylabel("tuning width (°, FWHM)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax = fig.add_subplot(grid[2, col])
        ax.axis("off")
        if fam is not None and scan.pictures:
            tiles = [scan.pictures[u] for u in fam.units if u in scan.pictures]
            per_row = int(np.ceil(np.sqrt(len(tiles))))
            h, w = tiles[0].shape[:2]
            sheet = np.ones((per_row * (h + 2), per_row * (w + 2), 3))
            for i, tile in enumerate(tiles):
                r, c = divmod(i, per_row)
                sheet[r * (h + 2):r * (h + 2) + h, c * (w + 2):c * (w + 2) + w] = tile
            ax.imshow(sheet.clip(0, 1))
            ax.set_title("feature visualisations (by orientation)", fontsize=8)
        ax = fig.add_subplot(grid[3, col])
        x = np.arange(len(scan.layers))
        for offset, (kind, source, label, colour) in enumerate(
                [("curve", scan.families, "curves", "tab:blue"), ("line", scan.families, "lines", "tab:orange"),
                 ("curve", scan.controls, "curves, control", "0.5"), ("line", scan.controls, "lines, control", "0.8")]):
            ax.bar(x + (offset - 1.5) * 0.2, [len(source[kind][k]) for k in scan.layers], 0.2, color=colour,
                   label=label)
        ax.set_xticks(x)
        ax.set_xticklabels(scan.layers, rotation=90, fontsize=6)
        ax.set_ylabel("members", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        if col == 0:
            ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(f"Curve families across models (orientation step {result.settings['step_deg']}°; grey: same "
                 f"architecture, random weights)", fontsize=10)
    return fig
