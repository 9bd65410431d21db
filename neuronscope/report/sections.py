"""The report's stages. Each has a cache key (its parameters and the modules whose code it
runs), computes one `Section` into its folder, and may hand results (the statistics, the
family) on to later stages through the `Context`."""

from __future__ import annotations

import inspect
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure

from neuronscope.dataset import compute_stats, load_stats, plot_distribution, plot_overview, plot_quilt, resolve_source
from neuronscope.errors import NeuronscopeError
from neuronscope.figures import finish
from neuronscope.report import basis
from neuronscope.report.html import Figure, Section, Table

FEATVIS_SIZE = 128  # px, as lucid renders neurons
CLEANEST = 2  # members (fewest positions above zero) with tangent-line and attribution figures
SPARSE_LIMIT = 0.5  # members above zero at more positions than this are flagged (3b:379 fires at ~11%)
ARTICLE_WIDTH = (30.0, 120.0)  # tuning widths (deg) of the article's curve family, roughly; outside is flagged
QUILT = {"per_row": 6, "thumb": 48}


@dataclass
class Context:
    model: object
    layer: str
    images: object
    out: Path
    featvis_steps: int
    progress: bool
    joint_examples: int = 4
    joint_step_deg: float = 5.0
    labels: object = None  # (labels CSV, column) for surgery, or None
    source: object = None
    stats: object = None
    members: list = field(default_factory=list)  # dicts: unit, orientation_deg, peak_z, width_deg, echo

    def __post_init__(self):
        self.source = resolve_source(self.images)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def neuron_ids(self, members=None) -> list[str]:
        return [f"{self.layer}:{m['unit']}" for m in (self.members if members is None else members)]

    def orientations(self) -> dict[int, float]:
        return {m["unit"]: m["orientation_deg"] for m in self.members}

    def cleanest(self, count: int = CLEANEST) -> list[dict]:
        """The members that fire at the fewest positions: the clearest curve detectors."""
        return sorted(self.members, key=lambda m: self.stats.frac_positive[m["unit"]])[:count]

    def strongest(self, count: int) -> list[dict]:
        return sorted(self.members, key=lambda m: -m["peak_z"])[:count]

    @property
    def bars(self) -> bool:
        """Inner progress bars (in a log, `report.progress.readable_bars` turns them into lines)."""
        return self.progress

    def log(self, message: str) -> None:
        """One line of progress on stderr (readable in a log file, unlike a redrawn bar)."""
        if self.progress:
            print(f"  {message}", file=sys.stderr, flush=True)

    def timed(self, what: str):
        return _Timed(self, what)


class _Timed:
    def __init__(self, ctx, what):
        self.ctx, self.what = ctx, what

    def __enter__(self):
        self.start = time.monotonic()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.ctx.log(f"{self.what}: {time.monotonic() - self.start:.1f} s")


def load_section(result: dict) -> Section:
    return Section(**{**result, "figures": [Figure(**f) for f in result["figures"]],
                      "tables": [Table(**t) for t in result["tables"]]})


class Stage:
    title = ""  # the section's title, for a section that could not be computed
    code: tuple[str, ...] = ()  # modules whose code the stage runs (besides its own module)

    def key(self, ctx: Context) -> dict:
        """The stage's own parameters (the build adds model, weights, layer, images and code)."""
        return {}

    def compute(self, ctx: Context, folder: Path) -> Section:
        raise NotImplementedError

    def adopt(self, ctx: Context, section: Section) -> None:
        """Take what later stages need from this stage's (possibly cached) output."""


class DatasetStats(Stage):
    title = "Dataset statistics of the layer"
    code = ("neuronscope.dataset", "neuronscope.images", "neuronscope.models", "neuronscope.report.basis")

    def key(self, ctx):
        return {"recipe": basis.RECIPE if ctx.images is None else None}

    def compute(self, ctx, folder):
        source, described = ctx.images, None
        if ctx.images is None:
            source = basis.write_views(ctx.source.arrays, folder / "images")
            described = (f"the default basis: {len(ctx.source)} photographs bundled with scikit-image, each seen "
                         f"{len(basis.VIEWS)} ways ({basis.RECIPE})")
        stats = compute_stats(ctx.model, ctx.layer, source, out_dir=folder / "stats", figures="none",
                              progress=ctx.bars)
        plot_overview(stats, folder / "overview.png")
        positions = stats.count // max(stats.images, 1)
        described = described or f"{stats.images} images from {ctx.images}"
        notes = []
        if stats.images < basis.THIN_IMAGES:
            notes.append(f"Thin statistics: {stats.images:,} images ({stats.count:,} values per unit). Quilts, "
                         f"distributions and the SD units below are rough; rerun with --images DIR over at least "
                         f"{basis.THIN_IMAGES:,} natural images (e.g. ImageNet's validation set) for the article's "
                         f"precision.")
        return Section(
            "Dataset statistics of the layer",
            f"Pre-ReLU values of every unit of {ctx.layer} at every spatial position of {described} (each image: "
            f"short side 256, centre crop 224). These means and standard deviations are the units "
            f"(\"standard deviations from the dataset mean\") of every later section.",
            figures=[Figure(ctx.rel(folder / "overview.png"), "Mean ± std and fraction above zero of every unit.")],
            notes=notes,
            numbers={"images": stats.images, "positions per image": positions, "values per unit": stats.count,
                     "images skipped": len(stats.skipped),
                     "median fraction > 0": float(np.median(stats.frac_positive))})

    def adopt(self, ctx, section):
        ctx.stats = load_stats(ctx.out / "stages" / "stats" / "stats")


def _find_defaults() -> dict:
    from neuronscope.families import find_family

    return {k: p.default for k, p in inspect.signature(find_family).parameters.items()
            if p.default is not inspect.Parameter.empty and isinstance(p.default, (int, float, str))}


class FamilyStage(Stage):
    title = "The curve family"
    code = ("neuronscope.families", "neuronscope.tuning", "neuronscope.stimuli")

    def key(self, ctx):
        return {"thresholds": _find_defaults()}

    def compute(self, ctx, folder):
        from neuronscope.families import find_family
        from neuronscope.tuning import figures

        with ctx.timed("family: scoring every unit"):
            family = find_family(ctx.model, ctx.layer, stats=ctx.stats)
        (folder / "family.json").write_text(json.dumps(family.to_dict(), indent=1) + "\n")
        members = family.to_dict()["members"]
        if not members:
            return Section("The curve family", f"No unit of {ctx.layer} passed the membership thresholds.")
        stats, t = ctx.stats, _find_defaults()
        rows, flags = [], []
        for m in members:
            u = m["unit"]
            sparsity = 100 * float(stats.frac_positive[u])
            echo = m["echo"] if m["echo"] is not None else float("nan")
            rows.append([u, m["orientation_deg"], round(sparsity, 1), echo, m["width_deg"], m["peak_z"]])
            flags.append([False, False, sparsity > 100 * SPARSE_LIMIT, echo >= 0.5,
                          not ARTICLE_WIDTH[0] <= m["width_deg"] <= ARTICLE_WIDTH[1], False])
        dense = sum(f[2] for f in flags)
        orientations = {m["unit"]: m["orientation_deg"] for m in members}
        units = [m["unit"] for m in members]
        curves = family.tunings["curves"]
        figures.plot_radial(curves, units, path=folder / "family_radial.png")
        figures.plot_radial_units(curves, units, orientations, path=folder / "family_units.png")
        notes = []
        if dense:
            notes.append(f"{dense} of {len(members)} members are above zero at more than {100 * SPARSE_LIMIT:.0f}% "
                         f"of positions (flagged): they respond to curves but are not sparse curve detectors like "
                         f"the article's (3b:379 fires at about 11% of positions).")
        gaps = family.gaps
        return Section(
            "The curve family",
            f"Every unit of {ctx.layer} is measured at the central position with rendered arcs (orientation every "
            f"{t['step_deg']:g}° x 8 radii), straight segments and 60°/90° angles, on the smallest input that gives "
            f"the full-image value. A unit is a member when its peak is at least {t['min_peak']:g} dataset SDs, its "
            f"orientation selectivity ((max - mean) / max) at least {t['min_selectivity']:g}, its preferred "
            f"orientation stable within {t['max_drift']:g}° across radii, and its peak at least {t['min_contrast']:g} "
            f"of itself above the best line or angle. Orientation = outward normal at the curve's midpoint, "
            f"counter-clockwise from +x. Sparsity = share of dataset positions where the unit is above zero. Echo = "
            f"secondary peak near the opposite orientation as a fraction of the main one. Flagged cells fall outside "
            f"the article's range (sparsity over {100 * SPARSE_LIMIT:.0f}%, echo at least 0.5, width outside "
            f"{ARTICLE_WIDTH[0]:.0f}-{ARTICLE_WIDTH[1]:.0f}°).",
            figures=[Figure(ctx.rel(folder / "family_units.png"), "Each member's orientation tuning after the "
                            "activation (line: its family orientation)."),
                     Figure(ctx.rel(folder / "family_radial.png"), "The family together: pre-activation on "
                            "Cartesian axes, after the activation on polar axes; each normalised by its maximum.")],
            tables=[Table(["unit", "orientation°", "% positions > 0", "echo", "width°", "peak (SD)"], rows,
                          caption=f"Members, by orientation. Peak in {family.unit_label}.", flags=flags)],
            notes=notes,
            numbers={"members": len(rows), "largest gap between preferred orientations (°)": float(gaps.max())})

    def adopt(self, ctx, section):
        family = json.loads((ctx.out / "stages" / "family" / "family.json").read_text())
        if not family["members"]:
            raise NeuronscopeError(f"no curve family found in {ctx.layer} of {ctx.model.name}; try another --layer")
        ctx.members = family["members"]


class FeatureVisualizations(Stage):
    title = "Feature visualisations"
    code = ("neuronscope.optvis",)

    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "steps": ctx.featvis_steps, "size": FEATVIS_SIZE}

    def compute(self, ctx, folder):
        from neuronscope.optvis import visualize

        from neuronscope.tuning.units import dataset_units

        images = visualize(ctx.model, ctx.neuron_ids(), steps=ctx.featvis_steps, size=FEATVIS_SIZE, seed=0,
                           progress=ctx.bars)
        units = [m["unit"] for m in ctx.members]
        with torch.no_grad():
            acts = ctx.model.capture(images, [ctx.layer], pre_relu=True)[ctx.layer]
        y, x = (acts.shape[-2] - 1) // 2, (acts.shape[-1] - 1) // 2
        reached = acts[torch.arange(len(units)), torch.tensor(units), y, x].double().numpy()
        z = dataset_units(ctx.model, ctx.layer, stats=ctx.stats).z(reached, units)
        cols = min(8, len(ctx.members))
        rows = -(-len(ctx.members) // cols)
        fig = MplFigure(figsize=(1.35 * cols, 1.55 * rows), layout="constrained")
        for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
            ax.axis("off")
            if i < len(ctx.members):
                ax.imshow(images[i].permute(1, 2, 0).numpy())
                m = ctx.members[i]
                ax.set_title(f"{m['unit']} ({m['orientation_deg']:.0f}°)\n{z[i]:.1f} SD", fontsize=8)
        finish(fig, folder / "featvis.png")
        return Section(
            "Feature visualisations",
            f"Images optimised to maximise each member's pre-ReLU value at the central position "
            f"({ctx.featvis_steps} Adam steps, {FEATVIS_SIZE} px, Fourier parameterisation with decorrelated colour, "
            f"lucid's jitter/scale/rotation transforms, seed 0), all members in one batched optimisation. Under each "
            f"image: the pre-ReLU value it reaches at the central position, in dataset SDs of that unit "
            f"(median {np.median(z):.1f} SD).",
            figures=[Figure(ctx.rel(folder / "featvis.png"), "Feature visualisation of each member "
                            "(unit, preferred orientation).")])


class MemberDistributions(Stage):
    title = "How the family responds to the dataset"
    code = ("neuronscope.dataset",)

    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "quilt": QUILT}

    def compute(self, ctx, folder):
        stats, figures, rows = ctx.stats, [], []
        fits = stats.tail_fits()
        for m in ctx.members:
            u = m["unit"]
            rows.append([u, round(m["orientation_deg"]), stats.mean[u], stats.std[u], 100 * stats.frac_positive[u],
                         fits["left_rate"][u] * stats.std[u], fits["right_rate"][u] * stats.std[u]])
        for i, m in enumerate(ctx.members):
            u = m["unit"]
            group = f"unit {u} ({m['orientation_deg']:.0f}°): distribution and quilt"
            plot_distribution(stats, u, folder / f"distribution_{u}.png")
            plot_quilt(stats, u, folder / f"quilt_{u}.png", **QUILT)
            figures += [Figure(ctx.rel(folder / f"distribution_{u}.png"),
                               f"{ctx.layer}:{u}: pre-ReLU distribution (linear, log with exponential tail fits) "
                               f"and contribution to the expected value x·p(x).", group=group),
                        Figure(ctx.rel(folder / f"quilt_{u}.png"),
                               f"{ctx.layer}:{u}: receptive-field crops sampled from each activation range.",
                               group=group)]
            ctx.log(f"distributions: {i + 1}/{len(ctx.members)} members")
        return Section(
            "How the family responds to the dataset",
            "Distributions of each member's pre-ReLU value over all positions of the images (exponential fits "
            "to the top and bottom 5% of values; the rate times the std is unit-free), the fraction of positions "
            "where it fires, and quilts of examples drawn at random from each activation range. Open a member "
            "to see its figures.",
            figures=figures,
            tables=[Table(["unit", "orientation°", "mean", "std", "% > 0", "left tail rate×std",
                           "right tail rate×std"], rows)])


class SyntheticStimuli(Stage):
    title = "Synthetic stimuli"
    code = ("neuronscope.tuning", "neuronscope.stimuli")

    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "orientations": ctx.orientations(),
                "cleanest": ctx.neuron_ids(ctx.cleanest())}

    def compute(self, ctx, folder):
        from neuronscope.tuning import angle_tuning, curve_tuning, dataset_units, figures, make_probe, morph_tuning
        from neuronscope.tuning.sweeps import fill_colour_tuning, tangent_line_tuning

        probe = make_probe(ctx.model, ctx.layer)
        scale = dataset_units(ctx.model, ctx.layer, stats=ctx.stats)
        units = [m["unit"] for m in ctx.members]
        orientations = ctx.orientations()
        family_orientations = sorted(set(orientations.values()))
        experiments = [
            ("heatmaps", lambda: curve_tuning(probe, units, scale=scale),
             lambda t, p: figures.plot_curve_heatmaps(t, units, path=p, orientations=orientations),
             "Orientation x radius response of each member to arcs (the \"wispy triangles\")."),
            ("angles", lambda: angle_tuning(probe, units, scale=scale),
             lambda t, p: figures.plot_angles(t, units, path=p, orientations=orientations),
             "Orientation x opening-angle response to angles."),
            ("morphs", lambda: morph_tuning(probe, units, scale=scale, orientations=family_orientations),
             lambda t, p: figures.plot_morphs(t, units, orientations, path=p),
             ("Response along the angle-to-curve morph (roundness 0: sharp angle, 1: arc), each member at its "
              "family orientation (in brackets).")),
            ("fill_colour", lambda: fill_colour_tuning(probe, units, scale=scale),
             lambda t, p: figures.plot_fill_colour(t, units, path=p, orientations=orientations),
             ("The same arc drawn as an outline, filled, inverted and in random colour pairs: fill and colour "
              "invariance.")),
        ]
        shown, peaks, morph_rows = [], {}, []
        for name, sweep, plot, caption in experiments:
            with ctx.timed(f"synthetic: {name}"):
                tuning = sweep()
                tuning.save(folder, name)
                plot(tuning, folder / f"{name}.png")
            shown.append(Figure(ctx.rel(folder / f"{name}.png"), caption))
            peaks[name] = float(np.nanmax(tuning.z))
            if name == "morphs":
                drawn = figures.morph_orientations(tuning, units, orientations)
                morph_rows = [[u, orientations[u], drawn[u]] for u in units]
        for m in ctx.cleanest():
            u = m["unit"]
            with ctx.timed(f"synthetic: lines along the curve of {u}"):
                tangent = tangent_line_tuning(probe, [u], scale=scale, orientation_deg=m["orientation_deg"])
                figures.plot_tangent_lines(tangent, u, path=folder / f"tangent_lines_{u}.png")
            shown.append(Figure(ctx.rel(folder / f"tangent_lines_{u}.png"),
                                f"{ctx.layer}:{u} (one of the {CLEANEST} sparsest members): short lines at each "
                                f"point along its preferred curve, at every orientation: which lines excite or "
                                f"inhibit it there."))
        return Section(
            "Synthetic stimuli",
            f"Rendered stimuli centred on the receptive field of the central position, sized relative to that field, "
            f"evaluated in batches on the smallest exact input. Values in {scale.label}.",
            figures=shown,
            tables=[Table(["unit", "family orientation°", "morph drawn at°"], morph_rows,
                          caption="Orientation of each member's morph series.")],
            numbers={f"strongest response to {k} (SD)": v for k, v in peaks.items()})


class JointTuning(Stage):
    title = "Joint tuning curves"
    code = ("neuronscope.tuning", "neuronscope.dataset")

    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "orientations": ctx.orientations(),
                "examples": ctx.joint_examples, "step_deg": ctx.joint_step_deg}

    def compute(self, ctx, folder):
        from neuronscope.tuning import figures, make_probe
        from neuronscope.tuning.joint import joint_tuning

        probe = make_probe(ctx.model, ctx.layer)
        tuning = joint_tuning(probe, ctx.orientations(), ctx.stats, examples=ctx.joint_examples,
                              step_deg=ctx.joint_step_deg, progress=ctx.bars)
        tuning.save(folder, "joint")
        figures.plot_joint(tuning, path=folder / "joint.png")
        return Section(
            "Joint tuning curves",
            f"Each member's {ctx.joint_examples} strongest dataset examples (crops at their receptive field), rotated "
            f"through 360° in {ctx.joint_step_deg:g}° steps; every member's response is recorded, aligned on the "
            f"preferred orientation of the unit whose examples they are, and averaged. Neighbouring members should "
            f"take over as the stimulus rotates.",
            figures=[Figure(ctx.rel(folder / "joint.png"), "Joint tuning curves of the family.")])


def all_stages():
    from neuronscope.report.more_sections import MORE_STAGES

    core = [("stats", DatasetStats()), ("family", FamilyStage()), ("featvis", FeatureVisualizations()),
            ("distributions", MemberDistributions()), ("synthetic", SyntheticStimuli()), ("joint", JointTuning())]
    more = dict(MORE_STAGES)
    # the page's order: the data, the family, how it looks and responds, then circuits and uses
    order = ["stats", "family", "featvis", "decompose", "distributions", "attribution", "synthetic", "joint",
             "layers", "circuits", "aann", "labelling", "applications"]
    return [(name, dict(core).get(name) or more[name]) for name in order]
REQUIRED = ("stats", "family")  # every later stage needs the statistics and the family
