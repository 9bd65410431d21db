"""The report's later stages: attribution, decomposed feature visualisation, families across
layers, circuits (weights, equivariance, the echo edit), artificial curve detectors and surgery,
labelling, and the applications. Settings are cheap on purpose (the main job has a time budget);
each section says what it used and how to go further with the matching command. A stage that
cannot run on this model or layer says why in its section instead of failing the page."""

from __future__ import annotations

import itertools
import json

import numpy as np
from matplotlib.figure import Figure as MplFigure

from neuronscope.errors import NeuronscopeError
from neuronscope.figures import finish
from neuronscope.report.html import Figure, Section, Table
from neuronscope.report.sections import CLEANEST, Stage

SCAN_STEP_DEG = 20.0  # orientation step of the layer scan (the family stage uses 10)
SCAN_IMAGES = 8  # photographs for each scanned layer's dataset SDs
DECOMPOSE = {"members": 2, "steps": 48, "size": 32}
ECHO = {"step_deg": 10.0, "radii": 8}
SHUFFLES = 200
COMBING_UNITS = 4  # the sparsest members measured for combing
TRACE = {"curves": 3, "steps": 50}  # spline fitting: cheap settings (the API defaults to 150 steps)


def _skipped(title: str, methods: str, why: str) -> Section:
    return Section(title, methods, notes=[f"Not shown: {why}"])


def spatial_source(model, layer: str, size: int = 224) -> str:
    """The nearest earlier layer whose positions the target sees at least 3 x 3 of (its receptive
    field spans 3 of the source's strides), so an attribution by position has a shape: a 1x1
    convolution's input gives one coloured square per crop."""
    from neuronscope.attribution import previous_layer

    target = model.receptive_field(layer, size)
    start = model.layers.index(previous_layer(model, layer, size))
    for candidate in reversed(model.layers[: start + 1]):
        source = model.receptive_field(candidate, size)
        if (target.size[0] - source.size[0]) / source.stride[0] + 1 >= 3:
            return candidate
    raise NeuronscopeError(f"no earlier layer of {model.name} that {layer} sees 3 x 3 positions of")


class AttributionStage(Stage):
    title = "Attribution of dataset examples"
    code = ("neuronscope.attribution", "neuronscope.dataset", "neuronscope.circuits")

    def key(self, ctx):
        return {"members": ctx.neuron_ids(ctx.cleanest())}

    def compute(self, ctx, folder):
        from neuronscope.dataset import plot_quilt

        title = "Attribution of dataset examples"
        try:
            source = spatial_source(ctx.model, ctx.layer)
        except NeuronscopeError as exc:
            return _skipped(title, "", str(exc))
        figures = []
        for m in ctx.cleanest():
            u = m["unit"]
            with ctx.timed(f"attribution: {ctx.layer}:{u} to {source}"):
                plot_quilt(ctx.stats, u, folder / f"attribution_{u}.png", per_row=4, thumb=64, attribution=True,
                           model=ctx.model, source=source)
            figures.append(Figure(ctx.rel(folder / f"attribution_{u}.png"),
                                  f"{ctx.layer}:{u} ({m['orientation_deg']:.0f}°): examples from each activation "
                                  f"range with, under each, its attribution to {source} by position and its two "
                                  f"top {source} units."))
        return Section(
            title,
            f"For the {CLEANEST} sparsest members: each example's pre-activation attributed to the positions of "
            f"{source}, the nearest earlier layer that {ctx.layer} sees at least 3 x 3 positions of (attribution = "
            f"activation x expanded weight, the path between the layers linearised; red positive, blue negative, "
            f"one scale per row; a field reaching past the image's edge is shown moved inside it, real pixels only). "
            f"`neuronscope quilt RESULT UNIT --attribution --source "
            f"{source}` draws any unit.",
            figures=figures)


class DecomposeStage(Stage):
    title = "Decomposed feature visualisations"
    code = ("neuronscope.optvis",)

    def key(self, ctx):
        return {"members": ctx.neuron_ids(ctx.strongest(DECOMPOSE["members"])), **DECOMPOSE}

    def compute(self, ctx, folder):
        from neuronscope.optvis.decompose import decompose, default_layers

        title = "Decomposed feature visualisations"
        try:
            layer = default_layers(ctx.model, ctx.layer)[-1]
        except NeuronscopeError as exc:
            return _skipped(title, "", str(exc))
        figures = []
        for m in ctx.strongest(DECOMPOSE["members"]):
            u = m["unit"]
            with ctx.timed(f"decompose: {ctx.layer}:{u} over {layer}"):
                result = decompose(ctx.model, f"{ctx.layer}:{u}", [layer], steps=DECOMPOSE["steps"],
                                   size=DECOMPOSE["size"], progress=ctx.bars)[0]
            image = result.figure().permute(1, 2, 0).numpy()
            fig = MplFigure(figsize=(4.2, 4.6), layout="constrained")
            ax = fig.subplots()
            ax.imshow(image)
            ax.axis("off")
            ax.set_title(f"{ctx.layer}:{u} ({m['orientation_deg']:.0f}°)\nover {layer}", fontsize=9)
            finish(fig, folder / f"decompose_{u}.png")
            figures.append(Figure(ctx.rel(folder / f"decompose_{u}.png"),
                                  f"{ctx.layer}:{u}: what it looks for at each position of {layer} (tiles faded by "
                                  f"the gradient's norm there)."))
        return Section(
            title,
            f"For the {DECOMPOSE['members']} members with the strongest peak: at each position of {layer} that "
            f"it sees, the feature visualisation of the direction of its (linearised) gradient there "
            f"({DECOMPOSE['steps']} steps, {DECOMPOSE['size']} px tiles: cheap settings; `neuronscope decompose "
            f"MODEL NEURON` uses 128 steps and 48 px).",
            figures=figures)


def scan_layers(model, layer: str, size: int = 224) -> list[str]:
    """Layers to scan for curve families: those with an activation whose receptive field is
    between 1/16 of the input and the whole input, up to `layer`'s depth and one block beyond."""
    out = []
    stop = min(len(model.layers), model.layers.index(layer) + 4)
    for name in model.layers[:stop]:
        if model.activations.get(name) is None:
            continue
        field = model.receptive_field(name, size).size[0]
        if size / 16 <= field <= size:
            out.append(name)
    return out


class LayersStage(Stage):
    title = "Families across layers"
    code = ("neuronscope.families", "neuronscope.tuning", "neuronscope.stimuli")

    def key(self, ctx):
        return {"step_deg": SCAN_STEP_DEG, "images": SCAN_IMAGES}

    def compute(self, ctx, folder):
        from neuronscope.families import find_family

        rows, families = [], {}
        layers = scan_layers(ctx.model, ctx.layer)
        for i, name in enumerate(layers):
            with ctx.timed(f"layers: {i + 1}/{len(layers)} {name}"):
                family = find_family(ctx.model, name, step_deg=SCAN_STEP_DEG, limit=SCAN_IMAGES)
            field = ctx.model.receptive_field(name)
            gap = float(family.gaps.max()) if len(family) else float("nan")
            rows.append([name, f"{field.size[0]} px", len(family), round(len(family) and 360 - gap, 0) if len(family)
                         else 0, gap])
            families[name] = family.to_dict()
        (folder / "families.json").write_text(json.dumps(families, indent=1) + "\n")
        fig = MplFigure(figsize=(9, 3.4), layout="constrained")
        ax = fig.subplots()
        ax.bar(range(len(rows)), [r[2] for r in rows], color=["C3" if r[0] == ctx.layer else "C0" for r in rows])
        ax.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("curve units found", fontsize=8)
        twin = ax.twinx()
        twin.plot(range(len(rows)), [r[4] for r in rows], "ko-", ms=3)
        twin.set_ylabel("largest gap between orientations (°)", fontsize=8)
        twin.set_ylim(0, 360)
        for a in (ax, twin):
            a.tick_params(labelsize=7)
        ax.set_title(f"{ctx.model.name}: curve families by layer (red: {ctx.layer})", fontsize=9)
        finish(fig, folder / "layers.png")
        return Section(
            "Families across layers",
            f"The family finder run on every layer with an activation whose receptive field is between 1/16 of the "
            f"input and the whole input ({len(layers)} layers; coarser than the family section: orientations every "
            f"{SCAN_STEP_DEG:g}°, dataset SDs over {SCAN_IMAGES} photographs). Coverage = 360° minus the largest gap "
            f"between neighbouring members' orientations: where curves appear, and how they fill the circle.",
            figures=[Figure(ctx.rel(folder / "layers.png"), "Members and largest orientation gap per layer.")],
            tables=[Table(["layer", "receptive field", "curve units", "coverage°", "largest gap°"], rows)])


def _earlier_families(ctx, minimum: int = 4):
    """(layer, Family) of each scanned layer before ctx.layer with a curve family of `minimum`+
    members, deepest first."""
    from neuronscope.families import Family

    path = ctx.out / "stages" / "layers" / "families.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    for name in reversed(ctx.model.layers[: ctx.model.layers.index(ctx.layer)]):
        if name in found and len(found[name]["members"]) >= minimum:
            yield name, Family.of(found[name], "curves", name)


class CircuitsStage(Stage):
    title = "Curve circuits"
    code = ("neuronscope.circuits", "neuronscope.experiments", "neuronscope.families", "neuronscope.tuning")

    def key(self, ctx):
        path = ctx.out / "stages" / "layers" / "families.json"
        return {"target": ctx.orientations(), "shuffles": SHUFFLES, "echo": ECHO,
                "layers": path.read_text() if path.exists() else None}

    def compute(self, ctx, folder):
        from neuronscope.circuits.equivariance import equivariance
        from neuronscope.circuits.figures import plot_family_matrix
        from neuronscope.experiments import circuit_experiment, echo_experiment
        from neuronscope.families import Family
        from neuronscope.tuning import default_radii

        title = "Curve circuits"
        source, early = next(_earlier_families(ctx), (None, None))
        if source is None:
            return _skipped(title, "", f"no earlier layer with a curve family of 4 or more members (see the "
                                       f"layer scan); `neuronscope circuit MODEL --from L --to {ctx.layer}` "
                                       f"takes families by hand")
        late = Family.of([(m["unit"], m["orientation_deg"]) for m in ctx.members], "curves", ctx.layer)
        with ctx.timed(f"circuits: {source} -> {ctx.layer} weights and equivariance"):
            result = circuit_experiment(ctx.model, source, ctx.layer, early, late, shuffles=SHUFFLES)
        with ctx.timed("circuits: echo edit"):
            echo = echo_experiment(ctx.model, source, ctx.layer, early, late, stats=ctx.stats,
                                   orientations=np.arange(0, 360, ECHO["step_deg"]),
                                   radii=default_radii(ECHO["radii"]))
        eq = result.equivariance
        spatial = _spatial_matrix(ctx, late, result.matrix)
        _plot_matrix(result.matrix, folder / "matrix.png")
        _plot_equivariance(eq, folder / "equivariance.png")
        _plot_echo(echo, folder / "echo.png")
        summary = echo.summary()
        null = eq.null_correlations
        numbers = {"source family": f"{source}, {len(early)} units", "equivariance correlation": float(eq.correlation),
                   "explained variance": float(eq.explained_variance)}
        if len(null):
            numbers.update({"shuffled-orientation null: mean": float(null.mean()),
                            "null 95th percentile": float(np.percentile(null, 95)),
                            "p (one-sided)": float((1 + (null >= eq.correlation).sum()) / (1 + len(null)))})
        numbers.update({"mean echo before the edit": summary["mean_echo_before"],
                        "mean echo after": summary["mean_echo_after"]})
        figures = [Figure(ctx.rel(folder / "matrix.png"), "Summed weight from each source member (columns) to each "
                          "target member (rows), both ordered by orientation."),
                   Figure(ctx.rel(folder / "equivariance.png"), "Summed weight against orientation difference, and "
                          "the equivariance score against its shuffled null."),
                   Figure(ctx.rel(folder / "echo.png"), "Each target member's echo before and after removing the "
                          "negative weights from the source family.")]
        spatial_note = ""
        if spatial is not None:
            finish(plot_family_matrix(spatial, summed=False), folder / "kernels.png")
            kh, kw = spatial.kernels.shape[-2:]
            figures.insert(0, Figure(ctx.rel(folder / "kernels.png"), f"The {kh}x{kw} expanded-weight kernels from "
                                     f"{spatial.source_layer}'s curve family (columns) to {ctx.layer}'s (rows), by "
                                     f"orientation: where around the target's position each earlier curve detector "
                                     f"excites (red) or inhibits (blue) it."))
            if spatial is not result.matrix:
                seq = equivariance(spatial, shuffles=SHUFFLES)
                numbers[f"equivariance of the {kh}x{kw} kernels from {spatial.source_layer}"] = float(seq.correlation)
                numbers["its null 95th percentile"] = float(np.percentile(seq.null_correlations, 95))
                spatial_note = (f" The kernels are shown from {spatial.source_layer}, the deepest earlier layer with "
                                f"a curve family whose kernels to {ctx.layer} are spatial (at least 3 x 3): "
                                f"{source}'s are {'x'.join(map(str, result.matrix.kernels.shape[-2:]))}.")
        return Section(
            title,
            f"Expanded weights (the path linearised: ReLU = identity, max-pool = average-pool) from the curve family "
            f"of {source} (the deepest earlier layer with one) to {ctx.layer}'s. Equivariance: how well each kernel "
            f"is predicted by rotating the mean kernel of its orientation difference (leave-one-out correlation), "
            f"against {SHUFFLES} seeded shuffles of the orientations. The echo edit removes the negative weights "
            f"between the families and measures the echoes that appear (arcs every {ECHO['step_deg']:g}°, "
            f"{ECHO['radii']} radii). `neuronscope circuit` and `neuronscope edit-echo` draw the full figures."
            + spatial_note,
            figures=figures,
            numbers=numbers)


def _spatial_matrix(ctx, late, deepest):
    """The family matrix from the deepest earlier curve family whose expanded kernels to ctx.layer
    are at least 3 x 3 (EfficientNet's 1x1 expand and project layers make the nearest ones 1 x 1:
    no shape to see); `deepest`: the deepest family's matrix, already computed. None if none is."""
    from neuronscope.circuits.views import family_matrix

    def spatial(matrix) -> bool:
        return min(matrix.kernels.shape[-2:]) >= 3

    if spatial(deepest):
        return deepest
    for name, family in itertools.islice(_earlier_families(ctx), 1, None):
        matrix = family_matrix(ctx.model, name, family, ctx.layer, late)
        if spatial(matrix):
            return matrix
    return None


def _plot_matrix(matrix, path):
    summed = matrix.summed.detach().cpu().numpy()
    t, s = summed.shape
    fig = MplFigure(figsize=(min(10.5, 2.5 + 0.28 * s), 1.6 + 0.24 * t), layout="constrained")
    ax = fig.subplots()
    lim = float(np.abs(summed).max()) or 1.0
    image = ax.imshow(summed, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    src, tgt = matrix.source, matrix.target
    ax.set_xticks(range(s), [f"{u} ({o:.0f}°)" for u, o in zip(src.units, src.orientations)], rotation=90, fontsize=7)
    ax.set_yticks(range(t), [f"{u} ({o:.0f}°)" for u, o in zip(tgt.units, tgt.orientations)], fontsize=7)
    ax.set_xlabel(f"{matrix.source_layer} curve units", fontsize=8)
    ax.set_ylabel(f"{matrix.target_layer} curve units", fontsize=8)
    bar = fig.colorbar(image, ax=ax, shrink=0.7)
    bar.set_label("summed expanded weight", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return finish(fig, path)


def _plot_equivariance(e, path):
    fig = MplFigure(figsize=(10, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1.6, 1])
    d = np.where(e.difference_deg > e.period / 2, e.difference_deg - e.period, e.difference_deg)
    left.scatter(d.ravel(), e.summed.ravel(), s=6, alpha=0.5, color="0.3", label="one pair")
    centres = np.where(e.bins_deg > e.period / 2, e.bins_deg - e.period, e.bins_deg)
    means = np.array([e.summed[e.difference_deg == b].mean() for b in e.bins_deg])
    order = np.argsort(centres)
    left.plot(centres[order], means[order], "o-", color="C3", label="mean per difference")
    left.axhline(0, color="0.5", lw=0.6)
    left.set_xlabel("orientation difference, source - target (°)", fontsize=8)
    left.set_ylabel("summed weight", fontsize=8)
    left.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)  # above the data
    null = e.null_correlations
    if len(null):
        right.hist(null, bins=30, color="0.6", label="shuffled orientations")
    right.axvline(e.correlation, color="C3", lw=2, label=f"actual {e.correlation:.2f}")
    right.set_xlabel("equivariance correlation", fontsize=8)
    right.set_ylabel("shuffles", fontsize=8)
    right.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    for ax in (left, right):
        ax.tick_params(labelsize=7)
    return finish(fig, path)


def _plot_echo(echo, path):
    per_unit = echo.summary()["per_unit"]
    fig = MplFigure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(per_unit))
    ax.bar(x - 0.2, [p["echo_before"] for p in per_unit], 0.4, label="before", color="0.5")
    ax.bar(x + 0.2, [p["echo_after"] for p in per_unit], 0.4, label="negative weights removed", color="C3")
    ax.set_xticks(x, [str(p["unit"]) for p in per_unit], rotation=90, fontsize=7)
    ax.set_xlabel(f"{echo.target} curve units (by orientation)", fontsize=8)
    ax.set_ylabel("echo (fraction of main peak)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="outside right upper")
    return finish(fig, path)


class AannStage(Stage):
    title = "Artificial curve detectors and surgery"
    code = ("neuronscope.aann", "neuronscope.experiments", "neuronscope.families", "neuronscope.tuning",
            "neuronscope.surgery")

    def key(self, ctx):
        return {"natural": ctx.orientations(), "labels": ctx.labels}

    def compute(self, ctx, folder):
        from neuronscope.experiments import aann_experiment
        from neuronscope.families import Family
        from neuronscope.tuning import figures

        title = "Artificial curve detectors and surgery"
        natural = Family.of([(m["unit"], m["orientation_deg"]) for m in ctx.members], "curves", ctx.layer)
        try:
            with ctx.timed("aann: build and compare"):
                result = aann_experiment(ctx.model, ctx.layer, natural=natural)
        except NeuronscopeError as exc:
            return _skipped(title, "", f"{exc} (`neuronscope aann MODEL --to {ctx.layer} --from LAYER`)")
        views = result.tuning
        figures.plot_radial_units(views.natural, path=folder / "natural.png",
                                  orientations=dict(zip(views.natural.units, natural.orientations)))
        figures.plot_radial_units(views.artificial, path=folder / "artificial.png",
                                  orientations=dict(enumerate(result.layer.orientations)))
        c = result.tuning.comparison
        tables, notes = [], []
        if ctx.labels:
            with ctx.timed("aann: surgery on the labelled images"):
                surgery = surgery_table(ctx, natural.units, result.layer)
            tables.append(surgery)
        else:
            notes.append(f"Surgery (the family ablated, or replaced by these artificial units, on labelled images) "
                         f"needs labels: `neuronscope report --images DIR --labels CSV --label-column COL` adds the "
                         f"table here, `neuronscope surgery {ctx.model.name} --layer {ctx.layer} --images DIR "
                         f"--labels CSV --label-column COL --out DIR` prints it; a table over a few unlabelled "
                         f"photographs would mean nothing.")
        return Section(
            title,
            f"A layer of hand-built curve detectors, one per natural member's orientation, wired from the line and "
            f"curve families of {result.layer.source} with the article's motif (never {ctx.layer}'s own weights), "
            f"measured with the same arcs as the natural family. " + " ".join(result.lines()),
            figures=[Figure(ctx.rel(folder / "natural.png"), "Natural members: orientation tuning."),
                     Figure(ctx.rel(folder / "artificial.png"), "Artificial units at the same orientations.")],
            tables=tables, notes=notes,
            numbers={"matched correlation (tuning)": float(np.nanmean(c.matched)),
                     "mismatched pairs": float(c.baseline)})


def surgery_table(ctx, units, artificial) -> Table:
    """Top-1/top-5 on the labelled images: unchanged, the family `units` ablated, replaced by the
    `artificial` layer, and as many random units ablated (5 seeds); intervals by bootstrap."""
    from neuronscope.evaluate import read_labels
    from neuronscope.surgery import run_surgery

    rows = read_labels(ctx.labels["csv"], ctx.labels["column"])
    result = run_surgery(ctx.model, ctx.layer, list(units), ctx.images, rows, artificial=artificial,
                         random_seeds=[0, 1, 2, 3, 4], progress=ctx.bars)
    return Table(result.headers(), result.rows(), caption="Surgery on the labelled images. "
                 + " ".join(result.explanation()))


class LabellingStage(Stage):
    title = "Labelling: what the activations are made of"
    code = ("neuronscope.dataset",)

    def key(self, ctx):
        folder = ctx.out / "stages" / "stats" / "stats" / "labels"
        return {"labels": {p.name: p.stat().st_size for p in sorted(folder.glob("unit_*.jsonl"))}
                if folder.is_dir() else {}}

    def compute(self, ctx, folder):
        from neuronscope.dataset.labelling import LabelSession, contribution_shares, plot_label_figures
        from neuronscope.dataset.labelling.session import sessions

        result = ctx.out / "stages" / "stats" / "stats"
        title = "Labelling: what the activations are made of"
        methods = ("Blind labels of examples sampled uniformly within each activation range (the article's "
                   "hand-labelled dataset examples) split each member's density and its contribution to the mean, "
                   "x·p(x), by label; the article found curves carry most of 3b:379's positive activation.")
        units = [u for u in sessions(result) if u in ctx.orientations()]
        if not units:
            return Section(title, methods, notes=[
                f"No labels yet. Label a member blind with `neuronscope label {result} --neuron UNIT` (a page on "
                f"127.0.0.1, or --terminal); the next report shows the stackplot and x·p(x) split by label."])
        figures, rows = [], []
        for u in units:
            session = LabelSession(result, u)
            if session.answered == 0:
                continue
            plot_label_figures(session, folder)
            shares = contribution_shares(session)
            rows.append([u, session.answered] + [round(100 * v, 1) for v in shares.values()])
            for name in ("fractions", "contribution"):
                figures.append(Figure(ctx.rel(folder / f"unit_{u:04d}_{name}.png"),
                                      f"{ctx.layer}:{u}: {name} by label ({session.answered} answers)."))
        if not rows:
            return Section(title, methods, notes=["Labelling sessions exist but hold no answers yet."])
        names = list(contribution_shares(LabelSession(result, rows[0][0])))
        return Section(title, methods, figures=figures,
                       tables=[Table(["unit", "answers"] + [f"% of mean > 0: {n}" for n in names], rows)])


class ApplicationsStage(Stage):
    title = "Applications"
    code = ("neuronscope.applications",)

    def key(self, ctx):
        return {"members": ctx.neuron_ids(), "trace": TRACE}

    def compute(self, ctx, folder):
        import importlib.util

        from neuronscope.images import standard_view

        title = "Applications"
        methods = ("What the curve family is good for, after the article's \"Applications\": extracting curves "
                   "from an image by attribution to the family, tracing them as splines, factorising the layer's "
                   "activations (NMF), and combing (the response to a curve with perpendicular strokes, like fur). "
                   "Commands: `neuronscope extract`, `trace`, `factorize`, `combing`.")
        if importlib.util.find_spec("neuronscope.applications") is None:
            return _skipped(title, methods, "neuronscope.applications is not installed")
        from neuronscope import applications as apps

        name = sorted(ctx.source.ids)[0] if ctx.source.kind == "samples" else None
        image = standard_view(ctx.source.item(ctx.source.ids.index(name)) if name else ctx.source.item(0))
        units = [m["unit"] for m in ctx.members]
        figures, notes = [], []
        try:
            with ctx.timed("applications: extract curves"):
                curve_map = apps.extract_curves(ctx.model, image, ctx.layer, units)
        except NeuronscopeError as exc:
            return _skipped(title, methods, str(exc))
        splines = []
        try:
            with ctx.timed("applications: trace curves"):
                splines = apps.trace_curves(ctx.model, image, n_curves=TRACE["curves"], layer=ctx.layer,
                                            units=units, target=curve_map, steps=TRACE["steps"])
        except NeuronscopeError as exc:
            notes.append(f"Tracing found nothing on this photograph: {exc}")
        from neuronscope.applications.trace import overlay

        fig = MplFigure(figsize=(10, 3.8), layout="constrained")
        axes = fig.subplots(1, 3)
        axes[0].imshow(image.permute(1, 2, 0).numpy())
        axes[0].set_title("image", fontsize=9)
        axes[1].imshow(curve_map.detach().cpu().numpy(), cmap="gray_r")
        axes[1].set_title("curves extracted by attribution", fontsize=9)
        axes[2].imshow(overlay(image, splines).permute(1, 2, 0).clamp(0, 1).numpy())
        axes[2].set_title(f"{len(splines)} curves traced as splines", fontsize=9)
        for ax in axes:
            ax.axis("off")
        finish(fig, folder / "extract.png")
        figures.append(Figure(ctx.rel(folder / "extract.png"), "Curve extraction (attribution of the family's "
                              "activation to the pixels) and tracing (splines fitted to that map) on one photograph."))
        from neuronscope.applications import factorize

        with ctx.timed("applications: factorize"):
            fact = factorize.factorize(ctx.model, image, ctx.layer, k=4, seed=0)
            finish(factorize.plot_factorization([image], fact.maps, groups=fact.groups), folder / "factorize.png")
        figures.append(Figure(ctx.rel(folder / "factorize.png"), f"NMF of {ctx.layer}'s activations on the "
                              f"photograph into 4 factors (relative error {fact.error:.2f}): each colour one factor."))
        from neuronscope.applications import combing as comb
        from neuronscope.families import find_family
        from neuronscope.tuning.units import dataset_units

        chosen = [m["unit"] for m in ctx.cleanest(COMBING_UNITS)]
        with ctx.timed("applications: combing"):
            family = find_family(ctx.model, ctx.layer, stats=ctx.stats)  # the family section's, with its tuning
            result = comb.combing(ctx.model, ctx.layer, units=chosen, family=family,
                                  scale=dataset_units(ctx.model, ctx.layer, stats=ctx.stats))
        _plot_combing(result, folder / "combing.png")
        figures.append(Figure(ctx.rel(folder / "combing.png"), f"Combing index of the {len(chosen)} sparsest members: "
                              f"response to the preferred curve with short strokes added, minus the plain curve "
                              f"({result.unit_label}); \"parallel\" strokes are the control with the same ink."))
        return Section(title, methods, figures=figures, notes=notes)


def _plot_combing(result, path):
    index = result.index
    fig = MplFigure(figsize=(8, 3.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(result.units)
    x = np.arange(index.shape[1])
    for i, u in enumerate(result.units):
        ax.bar(x + (i - (len(result.units) - 1) / 2) * width, index[i], width, label=f"unit {u}")
    from neuronscope.applications.combing import MODES

    ax.set_xticks(x, MODES, fontsize=8)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_ylabel("combed - plain (SDs)", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.legend(fontsize=7, loc="outside right upper")
    ax.set_title(f"{result.layer}: combing by where the strokes are", fontsize=9)
    return finish(fig, path)


MORE_STAGES = [("attribution", AttributionStage()), ("decompose", DecomposeStage()), ("layers", LayersStage()),
               ("circuits", CircuitsStage()), ("aann", AannStage()), ("labelling", LabellingStage()),
               ("applications", ApplicationsStage())]
