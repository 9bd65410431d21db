"""Assemble the report: cached stages, each giving one section of the page."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import neuronscope
from neuronscope.errors import NeuronscopeError
from neuronscope.figures import recording
from neuronscope.report import sections
from neuronscope.report.cache import code_digest, content_digest, run_stage
from neuronscope.report.html import Section, write_html
from neuronscope.report.progress import readable_bars


def weights_digest(model) -> str:
    """SHA-256 of the model's parameters and buffers, so a changed weight file invalidates the cache."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _labels(labels, images) -> dict | None:
    """The surgery labels as a stage key: the CSV's path, column and content digest (checked now,
    so a bad file fails before any computation)."""
    if labels is None:
        return None
    from neuronscope.evaluate import read_labels

    csv, column = labels
    if images is None or not Path(images).is_dir():
        raise NeuronscopeError("labels for surgery need --images: the folder of the images the labels CSV names")
    read_labels(csv, column)
    return {"csv": str(Path(csv).resolve()), "column": column,
            "sha256": hashlib.sha256(Path(csv).read_bytes()).hexdigest()}


def build_report(model, layer: str | None = None, images=None, out="report", fresh: bool = False,
                 featvis_steps: int = 128, joint_examples: int = 4, joint_step_deg: float = 5.0,
                 single_file: bool = False, progress: bool = True, stages=None, labels=None) -> Path:
    """Write `out/index.html`: the "Curve Detectors" and "Curve Circuits" experiments on `layer`
    (default: the model's curve layer), statistics over `images` (default: several views of
    scikit-image's photographs). Each stage is cached under `out/stages/`, keyed on its inputs
    and code; `fresh=True` recomputes everything. `single_file` inlines every image in the page.
    Progress goes to stderr one line per step (readable in a log). `stages`: names to build
    (default all; a stage's prerequisites are always built). `labels`: (CSV, column) naming the
    class of images in the `images` folder, for the surgery table (the family ablated, replaced by
    artificial curve detectors, and random units ablated)."""
    started = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    layer = model.check_layers([layer or model.default_layer])[0]
    ctx = sections.Context(model=model, layer=layer, images=images, out=out, featvis_steps=featvis_steps,
                           progress=progress, joint_examples=joint_examples, joint_step_deg=joint_step_deg,
                           labels=_labels(labels, images))
    key = {"model": model.name, "weights": weights_digest(model), "layer": layer,
           "images": content_digest(ctx.source), "neuronscope": neuronscope.__version__}
    chosen = [(n, s) for n, s in sections.all_stages() if stages is None or n in stages or n in sections.REQUIRED]
    done: list[Section] = []
    manifest: list[dict] = []
    for i, (name, stage) in enumerate(chosen):
        ctx.log(f"[{i + 1}/{len(chosen)}] {name} ...")
        stage_key = {**key, **stage.key(ctx), "code": code_digest(type(stage).__module__, *stage.code)}
        t0 = time.monotonic()

        def compute(folder, stage=stage, t0=t0, name=name):
            with recording() as layouts:
                try:
                    section = stage.compute(ctx, folder)
                except NeuronscopeError as exc:
                    if name in sections.REQUIRED:
                        raise
                    section = Section(stage.title, "", notes=[f"Not shown: {exc}"])
            section.seconds = time.monotonic() - t0
            for f in section.figures:
                f.layout = next((lay for lay in layouts if Path(lay["path"]) == out / f.path), None)
            return dataclasses.asdict(section)

        with readable_bars(progress):
            result, reused = run_stage(out, name, stage_key, compute, fresh)
        section = sections.load_section(result)
        section.reused = reused
        stage.adopt(ctx, section)
        done.append(section)
        manifest += [{**(f.layout or {}), "section": name, "path": f.path} for f in section.figures]
        ctx.log(f"[{i + 1}/{len(chosen)}] {name}: " + (f"reused (computed in {section.seconds:.1f} s)" if reused
                                                       else f"{section.seconds:.1f} s"))
    (out / "figures.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(s.seconds for s in done)
    now = time.monotonic() - started
    reused = sum(s.reused for s in done)
    intro = [(f"{model.name}, layer {layer}: its curve family and circuits, reproduced after Cammarata et al., "
              f"\"Curve Detectors\" and \"Curve Circuits\" (Distill, 2020). Images: {ctx.source.describe()['kind']} "
              f"({len(ctx.source)} images; see the statistics section for the basis)."),
             f"Built in {total:.0f} s of computation" + (f" ({reused} of {len(done)} stages reused from earlier runs; "
                                                         f"this run took {now:.0f} s)" if reused else "")
             + f" by neuronscope {neuronscope.__version__}."]
    page = write_html(out, f"Curve detectors of {model.name} {layer}", intro, done, single_file=single_file)
    ctx.log(f"report: {page} (computation {total:.0f} s, this run {now:.0f} s)")
    return page


__all__ = ["build_report", "weights_digest"]

