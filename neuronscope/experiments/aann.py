"""Artificial curve detectors built from a layer's families and compared with the natural ones
(`neuronscope aann`), and the families they are built from (shared with the surgery experiment).

    result = aann_experiment(model, "block6_expand")       # source: the model's default_source
    result.kernels.comparison.matched; result.save("out/")
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from neuronscope.aann import Motif, artificial_model, build_layer
from neuronscope.aann.compare import KernelViews, TuningViews, compare_kernels, compare_tuning
from neuronscope.aann.layer import ArtificialCurves, source_layer
from neuronscope.families import Family, find_family


def source_families(model, source: str, lines=None, curves=None) -> dict[str, Family]:
    """The line and curve families of `source` that artificial units read: each as given
    (anything `Family.of` reads; an empty Family for none), else found with `find_family`."""
    out = {}
    for kind, given in (("line", lines), ("curve", curves)):
        out[f"{kind}s"] = (find_family(model, source, kind) if given is None
                           else Family.of(given, f"{kind}s", source))
    return out


def natural_family(model, target: str, family=None) -> Family:
    """The target's curve family with orientations: `family` (anything `Family.of` reads), else found."""
    natural = find_family(model, target, "curve") if family is None else Family.of(family, "natural curves", target)
    natural.require("give one explicitly")
    natural.require_orientations()
    return natural


@dataclass
class AannResult:
    model: str
    layer: ArtificialCurves          # the artificial units (its .source, .target, .motif, .sources)
    natural: Family
    sources: dict[str, Family]       # the source families it was built from ("lines", "curves")
    kernels: KernelViews
    tuning: TuningViews
    featvis: dict[str, torch.Tensor] | None = None  # "natural", "artificial": (units, 3, H, W)

    def summary(self) -> dict:
        layer = self.layer
        return {"model": self.model, "source": layer.source, "target": layer.target,
                "orientations": layer.orientations, "motif": vars(layer.motif),
                "natural_family": dict(zip(map(str, self.natural.units), self.natural.orientations)),
                "sources": [vars(s) for s in layer.sources], "kernels": self.kernels.comparison.to_dict(),
                "radial_tuning": self.tuning.comparison.to_dict()}

    def save(self, out) -> list[Path]:
        """aann.json, the kernel and tuning figures, and featvis_natural/artificial.png if computed."""
        from neuronscope.aann.figures import save_kernels, save_tuning
        from neuronscope.stimuli import save_grid

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = save_kernels(self.kernels, out) + save_tuning(self.tuning, out)
        for name, images in (self.featvis or {}).items():
            written.append(save_grid(images, out / f"featvis_{name}.png", ncols=len(images)))
        (out / "aann.json").write_text(json.dumps(self.summary(), indent=1) + "\n")
        return [out / "aann.json", *written]

    def lines(self) -> list[str]:
        """One line per comparison: the matched correlation against the mismatched baseline."""
        return [f"{c.what}: correlation with the orientation-matched natural unit {np.nanmean(c.matched):.2f} "
                f"(mean over {len(c.matched)} units; mismatched pairs {c.baseline:.2f})"
                for c in (self.kernels.comparison, self.tuning.comparison)]

    def __repr__(self) -> str:
        return f"<AannResult {self.layer.source} -> {self.layer.target}: " + "; ".join(self.lines()) + ">"

    def _repr_html_(self) -> str:
        from neuronscope.aann.figures import plot_radial_pairs
        from neuronscope.notebook import figure_html

        return "<div><b>" + "<br>".join(self.lines()) + f"</b><br>{figure_html(plot_radial_pairs(self.tuning))}</div>"


def aann_experiment(model, target: str | None = None, source: str | None = None, *, natural=None,
                    orientations=None, motif: Motif | None = None, lines=None, curves=None,
                    featvis_steps: int = 0, seed: int = 0) -> AannResult:
    """Build artificial curve detectors on `target` (default: the model's curve layer) from the
    line and curve families of `source` (default: the model's `default_source`), one per
    orientation (default: the natural family's), and compare them with the natural family:
    family-to-family kernels, radial tuning, and, with `featvis_steps`, feature visualisations."""
    target = target or model.default_layer
    source = source or source_layer(model, target)
    model.check_layers([source, target])
    natural = natural_family(model, target, natural)
    orientations = list(natural.orientations) if orientations is None else [float(t) for t in orientations]
    families = source_families(model, source, lines, curves)
    layer = build_layer(model, source, target, orientations, motif=motif or Motif(), **families)
    result = AannResult(model.name, layer, natural, families, compare_kernels(model, layer, natural),
                        compare_tuning(model, layer, natural))
    if featvis_steps > 0:
        from neuronscope.optvis import visualize

        result.featvis = {
            name: visualize(m, [f"{layer.target}:{u}" for u in units], steps=featvis_steps, seed=seed)
            for name, m, units in (("natural", model, natural.units),
                                   ("artificial", artificial_model(model, layer), range(layer.out_channels)))}
    return result
