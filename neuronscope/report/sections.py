"""The report's stages. Each has a cache key, computes one `Section` into its folder, and may
hand results (the stats, the family) on to later stages through the `Context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure as MplFigure

from neuronscope.dataset import compute_stats, load_stats, plot_distribution, plot_overview, plot_quilt, resolve_source
from neuronscope.report.html import Figure, Section, Table

QUILTS = 6  # members with a quilt and a distribution figure


@dataclass
class Context:
    model: object
    layer: str
    images: object
    out: Path
    featvis_steps: int
    progress: bool
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
        stats = compute_stats(ctx.model, ctx.layer, ctx.source, out_dir=folder / "stats", figures="none",
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

        images = visualize(ctx.model, ctx.neuron_ids(), steps=ctx.featvis_steps, size=128, seed=0,
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
            f"({ctx.featvis_steps} Adam steps, 128 px, Fourier parameterisation with decorrelated colour, "
            f"lucid's jitter/scale/rotation transforms, seed 0), all members in one batched optimisation.",
            figures=[Figure(ctx.rel(folder / "featvis.png"), "Feature visualisation of each member "
                            "(unit, preferred orientation).")])
