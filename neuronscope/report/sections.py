"""The report's stages. Each has a cache key, computes one `Section` into its folder, and may
hand results (the stats, the family) on to later stages through the `Context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from neuronscope.errors import NeuronscopeError
from neuronscope.dataset import compute_stats, load_stats, plot_distribution, plot_overview, plot_quilt, resolve_source
from neuronscope.report.html import Figure, Section, Table

QUILTS = 6  # members with a quilt and a distribution figure
FEATVIS_SIZE = 128  # px, as lucid renders neurons


@dataclass
class Context:
    model: object
    layer: str
    images: object
    out: Path
    featvis_steps: int
    progress: bool
    joint_examples: int = 2
    joint_step_deg: float = 2.0
    source: object = None
    stats: object = None
    members: list = field(default_factory=list)  # dicts: unit, orientation_deg, peak_z, width_deg, echo

    def __post_init__(self):
        self.source = resolve_source(self.images)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()

    def neuron_ids(self) -> list[str]:
        return [f"{self.layer}:{m['unit']}" for m in self.members]


def load_section(result: dict) -> Section:
    return Section(**{**result, "figures": [Figure(**f) for f in result["figures"]],
                      "tables": [Table(**t) for t in result["tables"]]})


class Stage:
    def key(self, ctx: Context) -> dict:
        return {}

    def compute(self, ctx: Context, folder: Path) -> Section:
        raise NotImplementedError

    def adopt(self, ctx: Context, section: Section) -> None:
        """Take what later stages need from this stage's (possibly cached) output."""


class DatasetStats(Stage):
    def compute(self, ctx, folder):
        stats = compute_stats(ctx.model, ctx.layer, ctx.images, out_dir=folder / "stats", figures="none",
                              progress=ctx.progress)
        plot_overview(stats, folder / "overview.png")
        return Section(
            "Dataset statistics of the layer",
            f"Pre-ReLU values of every unit of {ctx.layer} at every spatial position of {stats.images} images "
            f"(short side 256, centre crop 224). These means and standard deviations are the units "
            f"(\"standard deviations from the dataset mean\") of every later section.",
            figures=[Figure(ctx.rel(folder / "overview.png"), "Mean ± std and fraction above zero of every unit.")],
            numbers={"images": stats.images, "skipped": len(stats.skipped), "values per unit": stats.count,
                     "median fraction > 0": float(np.median(stats.frac_positive))})

    def adopt(self, ctx, section):
        ctx.stats = load_stats(ctx.out / "stages" / "stats" / "stats")


class MemberDistributions(Stage):
    def key(self, ctx):
        return {"members": [m["unit"] for m in ctx.members[:QUILTS]]}

    def compute(self, ctx, folder):
        stats, figures, rows = ctx.stats, [], []
        fits = stats.tail_fits()
        for m in ctx.members:
            u = m["unit"]
            rows.append([u, round(m["orientation_deg"]), stats.mean[u], stats.std[u], 100 * stats.frac_positive[u],
                         fits["left_rate"][u] * stats.std[u], fits["right_rate"][u] * stats.std[u]])
        for m in ctx.members[:QUILTS]:
            u = m["unit"]
            plot_distribution(stats, u, folder / f"distribution_{u}.png")
            plot_quilt(stats, u, folder / f"quilt_{u}.png")
            figures += [Figure(ctx.rel(folder / f"distribution_{u}.png"),
                               f"{ctx.layer}:{u}: pre-ReLU distribution (linear, log with exponential tail fits) "
                               f"and contribution to the expected value x·p(x)."),
                        Figure(ctx.rel(folder / f"quilt_{u}.png"),
                               f"{ctx.layer}:{u}: receptive-field crops sampled from each activation range.")]
        return Section(
            "How the family responds to the dataset",
            "Distributions of each member's pre-ReLU value over all positions of the images (exponential fits "
            "to the top and bottom 5% of values; the rate times the std is unit-free), the fraction of positions "
            "where it fires, and quilts of examples drawn at random from each activation range.",
            figures=figures,
            tables=[Table(["unit", "orientation°", "mean", "std", "% > 0", "left tail rate×std",
                           "right tail rate×std"], rows)])


class FeatureVisualizations(Stage):
    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "steps": ctx.featvis_steps}

    def compute(self, ctx, folder):
        from neuronscope.optvis import visualize

        images = visualize(ctx.model, ctx.neuron_ids(), steps=ctx.featvis_steps, size=FEATVIS_SIZE, seed=0,
                           progress=ctx.progress)
        cols = min(6, len(ctx.members))
        rows = -(-len(ctx.members) // cols)
        fig = MplFigure(figsize=(2 * cols, 2.2 * rows), layout="constrained")
        for i, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
            ax.axis("off")
            if i < len(ctx.members):
                ax.imshow(images[i].permute(1, 2, 0).numpy())
                m = ctx.members[i]
                ax.set_title(f"{m['unit']} ({m['orientation_deg']:.0f}°)", fontsize=9)
        fig.savefig(folder / "featvis.png", dpi=100)
        return Section(
            "Feature visualisations",
            f"Images optimised to maximise each member's pre-ReLU value at the central position "
            f"({ctx.featvis_steps} Adam steps, {FEATVIS_SIZE} px, Fourier parameterisation with decorrelated colour, "
            f"lucid's jitter/scale/rotation transforms, seed 0), all members in one batched optimisation.",
            figures=[Figure(ctx.rel(folder / "featvis.png"), "Feature visualisation of each member "
                            "(unit, preferred orientation).")])


class FamilyStage(Stage):
    def compute(self, ctx, folder):
        from neuronscope.families import find_family

        family = find_family(ctx.model, ctx.layer, stats=ctx.stats)
        family.save(folder / "family.json")
        data = family.to_dict()
        rows = [[m["unit"], m["orientation_deg"], m["peak_z"], m["width_deg"], m["echo"]] for m in data["members"]]
        return Section(
            "The curve family",
            f"Every unit of {ctx.layer} is measured at the central position with rendered arcs (orientation x radius), "
            f"straight segments and angles, on the smallest input that gives the full-image value. A unit is a member "
            f"when its peak is at least 4 dataset SDs, it is orientation-selective, its preferred orientation is stable "
            f"across radii and curves beat lines and angles. Orientation = outward normal at the curve's midpoint, "
            f"counter-clockwise from +x. Units: {data['unit_of_peak']}.",
            figures=[Figure(ctx.rel(folder / "family_radial.png"),
                            "Radial tuning curves of the members, pre- and post-activation, each normalised by its "
                            "own maximum.")],
            tables=[Table(["unit", "orientation°", "peak (SD)", "width°", "echo"], rows)],
            numbers={"members": len(rows), "largest gap between preferred orientations (°)": data["max_gap_deg"]})

    def adopt(self, ctx, section):
        import json

        family = json.loads((ctx.out / "stages" / "family" / "family.json").read_text())
        if not family["members"]:
            raise NeuronscopeError(f"no curve family found in {ctx.layer} of {ctx.model.name}; try another --layer")
        ctx.members = family["members"]


class SyntheticStimuli(Stage):
    def key(self, ctx):
        return {"members": ctx.neuron_ids()}

    def compute(self, ctx, folder):
        from neuronscope.tuning import angle_tuning, curve_tuning, dataset_units, figures, make_probe, morph_tuning
        from neuronscope.tuning.sweeps import fill_colour_tuning, tangent_line_tuning

        probe = make_probe(ctx.model, ctx.layer)
        scale = dataset_units(ctx.model, ctx.layer, stats=ctx.stats)
        units = [m["unit"] for m in ctx.members]
        experiments = [
            ("heatmaps", curve_tuning, figures.plot_curve_heatmaps,
             "Orientation x radius response of each member to arcs (the \"wispy triangles\")."),
            ("angles", angle_tuning, figures.plot_angles, "Orientation x opening-angle response to angles."),
            ("morphs", morph_tuning, figures.plot_morphs,
             "Response along the angle-to-curve morph (roundness 0: sharp angle, 1: arc) at each member's "
             "best orientation."),
            ("fill_colour", fill_colour_tuning, figures.plot_fill_colour,
             "The same arc drawn as an outline, filled, inverted and in random colour pairs: fill and colour "
             "invariance."),
        ]
        shown, peaks = [], {}
        for name, sweep, plot, caption in experiments:
            tuning = sweep(probe, units, scale=scale)
            tuning.save(folder, name)
            figures.save(plot(tuning, units), folder / f"{name}.png")
            shown.append(Figure(ctx.rel(folder / f"{name}.png"), caption))
            peaks[name] = float(np.nanmax(tuning.z))
        first = ctx.members[0]
        tangent = tangent_line_tuning(probe, [first["unit"]], scale=scale, orientation_deg=first["orientation_deg"])
        figures.save(figures.plot_tangent_lines(tangent, first["unit"]), folder / "tangent_lines.png")
        shown.append(Figure(ctx.rel(folder / "tangent_lines.png"),
                            f"{ctx.layer}:{first['unit']}: short lines at each point along its preferred curve, at "
                            f"every orientation: which lines excite or inhibit it there."))
        return Section(
            "Synthetic stimuli",
            f"Rendered stimuli centred on the receptive field of the central position, sized relative to that field, "
            f"evaluated in batches on the smallest exact input. Values in {scale.label}.",
            figures=shown,
            numbers={f"strongest response to {k} (SD)": v for k, v in peaks.items()})


class JointTuning(Stage):
    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "orientations": [m["orientation_deg"] for m in ctx.members],
                "examples": ctx.joint_examples, "step_deg": ctx.joint_step_deg}

    def compute(self, ctx, folder):
        from neuronscope.tuning import figures, make_probe
        from neuronscope.tuning.joint import joint_tuning

        probe = make_probe(ctx.model, ctx.layer)
        preferred = {m["unit"]: m["orientation_deg"] for m in ctx.members}
        tuning = joint_tuning(probe, preferred, ctx.stats, examples=ctx.joint_examples, step_deg=ctx.joint_step_deg)
        tuning.save(folder, "joint")
        figures.save(figures.plot_joint(tuning), folder / "joint.png")
        return Section(
            "Joint tuning curves",
            f"Each member's {ctx.joint_examples} strongest dataset examples (crops at their receptive field), rotated "
            f"through 360° in {ctx.joint_step_deg:g}° steps; every member's response is recorded, aligned on the preferred orientation of the unit whose "
            "examples they are, and averaged. Neighbouring members should take over as the stimulus rotates.",
            figures=[Figure(ctx.rel(folder / "joint.png"), "Joint tuning curves of the family.")])


STAGES = [("stats", DatasetStats()), ("family", FamilyStage()), ("featvis", FeatureVisualizations()),
          ("distributions", MemberDistributions()), ("synthetic", SyntheticStimuli()), ("joint", JointTuning())]
