"""Assemble the report: cached stages, each giving one section of the page."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

from tqdm.auto import tqdm

import neuronscope
from neuronscope.report import sections
from neuronscope.report.cache import run_stage
from neuronscope.report.html import Section, write_html


def weights_digest(model) -> str:
    """SHA-256 of the model's parameters and buffers, so a changed weight file invalidates the cache."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_report(model, layer: str | None = None, images=None, out="report", fresh: bool = False,
                 featvis_steps: int = 512, joint_examples: int = 2, joint_step_deg: float = 2.0,
                 progress: bool = True) -> Path:
    """Write `out/index.html`: family, feature visualisations, dataset statistics, synthetic
    stimuli and joint tuning curves of `layer` (default: the model's curve layer).

    Each stage is cached under `out/stages/`; a rerun with the same inputs reuses it and
    `fresh=True` recomputes everything.
    """
    started = time.monotonic()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    layer = model.check_layers([layer or model.default_layer])[0]
    ctx = sections.Context(model=model, layer=layer, images=images, out=out, featvis_steps=featvis_steps,
                           progress=progress, joint_examples=joint_examples, joint_step_deg=joint_step_deg)
    key = {"model": model.name, "weights": weights_digest(model), "layer": layer,
           "images": ctx.source.fingerprint(), "neuronscope": neuronscope.__version__}
    done: list[Section] = []
    bar = tqdm(sections.STAGES, desc="report", unit="stage", disable=not progress)
    for name, stage in bar:
        bar.set_description(f"report: {name}")
        stage_key = {**key, **stage.key(ctx)}
        t0 = time.monotonic()
        result, reused = run_stage(out, name, stage_key, lambda folder: dataclasses.asdict(stage.compute(ctx, folder)),
                                   fresh)
        section = sections.load_section(result)
        section.reused = reused
        stage.adopt(ctx, section)
        done.append(section)
        bar.write(f"  {name}: {'reused' if reused else f'{time.monotonic() - t0:.0f} s'}")
    intro = (f"{model.name}, layer {layer}: its curve family, reproduced after Cammarata et al., "
             f"\"Curve Detectors\" (Distill, 2020). Images: {ctx.source.describe()['kind']} "
             f"({len(ctx.source)} images). Built in {time.monotonic() - started:.0f} s by neuronscope "
             f"{neuronscope.__version__}.")
    return write_html(out, f"Curve detectors of {model.name} {layer}", intro, done)
