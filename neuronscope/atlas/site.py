"""The atlas as a static site, written from finished tasks: no server, opens from file://.

  index.html                    the model: its layers, search by unit id
  layers/<layer>.html           a grid of every shown unit's feature visualisation (lazy images)
  units/<layer>/<unit>.html     one unit: visualisations, examples, histogram, weights, family
  img/<layer>/<unit>_*.png      the pictures; atlas.js, atlas.css, search.js (the unit index)
  atlas.json                    what was built, with which settings

Every file depends only on the tasks' results and the settings: no dates, hosts or absolute paths.
"""

from __future__ import annotations

import html
import json
import math
import shutil
from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np

from neuronscope.errors import NeuronscopeError

MARKER = "atlas.json"
TOP = 8  # strongest input / output units listed per unit


def write_site(out: Path, model, layers: list[str], chosen: dict[str, list[int]], plan, store, settings) -> int:
    """Write the site into `out` (replacing an earlier atlas there); returns the number of HTML pages."""
    out = Path(out)
    check_out(out)
    for name in ("units", "layers", "img"):
        shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    static = resources.files("neuronscope.atlas").joinpath("static")
    for name in ("atlas.css", "atlas.js"):
        (out / name).write_text(static.joinpath(name).read_text())
    by_id = {t.id: t for t in plan}
    data = _Data(model, layers, chosen, plan, store)
    index = {layer: chosen[layer] for layer in layers}
    (out / "search.js").write_text("window.ATLAS_UNITS = " + json.dumps(index, separators=(",", ":")) + ";\n"
                                   + f"window.ATLAS_PREFIX = {json.dumps(getattr(model, 'layer_prefix', ''))};\n")
    listing = {layer: {"units": data.counts[layer], "shown": len(chosen[layer])} for layer in layers}
    record = {"model": model.name, "layers": listing, "settings": asdict(settings), "tasks": sorted(by_id)}
    (out / MARKER).write_text(json.dumps(record, indent=1) + "\n")
    (out / "index.html").write_text(_index_page(data))
    pages = 1
    for layer in layers:
        (out / "layers").mkdir(exist_ok=True)
        (out / "layers" / f"{layer}.html").write_text(_layer_page(data, layer, settings))
        pages += 1
        folder, images = out / "units" / layer, out / "img" / layer
        folder.mkdir(parents=True)
        images.mkdir(parents=True)
        for unit in chosen[layer]:
            for path in data.pictures(layer, unit):
                shutil.copyfile(path, images / path.name)
            (folder / f"{unit}.html").write_text(_unit_page(data, layer, unit, settings))
            pages += 1
    return pages


def check_out(out: Path) -> None:
    """Refuse to write into a non-empty folder that is not an atlas (its files would be replaced)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise NeuronscopeError(f"{out} exists and is not an atlas; choose another --out")


class _Data:
    """Reads the finished tasks a page needs, each once."""

    def __init__(self, model, layers, chosen, plan, store):
        from neuronscope.atlas.tasks import _unit_count

        self.model, self.layers, self.chosen, self.store = model, layers, chosen, store
        self.tasks = {t.id: t for t in plan}
        self.counts = {layer: _unit_count(model, layer) for layer in layers}
        self.shown = {layer: set(units) for layer, units in chosen.items()}
        self._cache = {}

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def _chunk(self, kind: str, layer: str, unit: int) -> Path:
        for t in self.tasks.values():
            if t.kind == kind and t.layer == layer and t.part[0] <= unit < t.part[1]:
                return self.store.path(t.id)
        raise KeyError(f"no {kind} task for {layer}:{unit}")

    def pictures(self, layer: str, unit: int) -> list[Path]:
        found = []
        for kind in ("featvis", "examples"):
            found += sorted(self._chunk(kind, layer, unit).glob(f"{unit}_*.png"))
        return found

    def diverse(self, layer: str, unit: int) -> list[str]:
        return [p.name for p in sorted(self._chunk("featvis", layer, unit).glob(f"{unit}_div*.png"))]

    def examples(self, layer: str, unit: int) -> list[dict]:
        folder = self._chunk("examples", layer, unit)
        return self._once(("ex", folder), lambda: json.loads((folder / "examples.json").read_text()))[str(unit)]

    def stats(self, layer: str):
        from neuronscope.dataset import load_stats

        return self._once(("stats", layer), lambda: load_stats(self.store.path(f"merge.{layer}")))

    def family(self, layer: str) -> dict | None:
        task = f"family.{layer}"
        if task not in self.tasks:
            return None
        return self._once(("fam", layer), lambda: json.loads((self.store.path(task) / "family.json").read_text()))

    def members(self, layer: str) -> dict[int, dict]:
        family = self.family(layer) or {}
        return {m["unit"]: m for m in family.get("members", [])}

    def previous(self, layer: str) -> str | None:
        i = self.layers.index(layer)
        return self.layers[i - 1] if i > 0 else None

    def following(self, layer: str) -> str | None:
        i = self.layers.index(layer)
        return self.layers[i + 1] if i + 1 < len(self.layers) else None

    def weights_error(self, layer: str) -> str | None:
        """Why the expanded weights into `layer` could not be computed, or None."""
        for t in self.tasks.values():
            if t.kind == "weights" and t.layer == layer and (self.store.path(t.id) / "error.json").is_file():
                return json.loads((self.store.path(t.id) / "error.json").read_text())["error"]
        return None

    def kernels(self, layer: str) -> np.ndarray:
        """(units of `layer`, units of the previous chosen layer, kh, kw) expanded weights."""
        def load():
            parts = sorted((t for t in self.tasks.values() if t.kind == "weights" and t.layer == layer),
                           key=lambda t: t.part[0])
            return np.concatenate([np.load(self.store.path(t.id) / "kernels.npy") for t in parts])
        return self._once(("w", layer), load)

    def strength(self, layer: str) -> np.ndarray:
        """Sum of |expanded weight| per (target, source) pair, as `NeuronInputs.strength`."""
        return self._once(("s", layer), lambda: np.abs(self.kernels(layer)).sum(axis=(2, 3)))


# -- pages -----------------------------------------------------------------------------------------

def _page(title: str, root: str, body: str, crumbs: list[tuple[str, str | None]]) -> str:
    nav = " › ".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' if h else html.escape(t) for t, h in crumbs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><link rel="stylesheet" href="{root}atlas.css"></head>
<body data-root="{root}">
<header><nav>{nav}</nav>
<form id="search" autocomplete="off"><input id="search-box" name="q" placeholder="unit id, e.g. layer:12" size="24">
<button type="submit">go</button> <span id="search-msg" role="status"></span></form></header>
<main>
{body}
</main>
<script src="{root}search.js"></script><script src="{root}atlas.js"></script>
</body></html>
"""


def _unit_href(root: str, layer: str, unit: int) -> str:
    return f"{root}units/{layer}/{unit}.html"


def _index_page(d: _Data) -> str:
    rows = []
    for layer in d.layers:
        family = d.family(layer)
        if family is None:
            fam = "not searched"
        elif "error" in family:
            fam = "not measured: " + html.escape(family["error"])
        else:
            fam = f"{len(family['members'])} {family['kind']} detectors" if family["members"] else "none found"
        rows.append(f'<tr><td><a href="layers/{layer}.html">{html.escape(layer)}</a></td><td>{d.counts[layer]}</td>'
                    f"<td>{len(d.chosen[layer])}</td><td>{fam}</td></tr>")
    body = (f"<h1>{html.escape(d.model.name)}</h1>"
            "<p>Every shown unit's feature visualisation, dataset examples, activation histogram, strongest "
            "weights and family. Search a unit by its id above.</p>"
            "<table><thead><tr><th>layer</th><th>units</th><th>shown</th><th>family</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")
    return _page(d.model.name, "", body, [(d.model.name, None)])


def _layer_page(d: _Data, layer: str, settings) -> str:
    members = d.members(layer)
    cells = []
    for unit in d.chosen[layer]:
        note = f' <span class="orient">{members[unit]["orientation_deg"]:.0f}°</span>' if unit in members else ""
        cells.append(f'<a class="cell" href="../units/{layer}/{unit}.html"><img loading="lazy" decoding="async" '
                     f'src="../img/{layer}/{unit}_pos.png" width="{settings.size}" height="{settings.size}" '
                     f'alt="{layer}:{unit}"><span>{unit}{note}</span></a>')
    body = (f"<h1>{html.escape(layer)}</h1><p>{len(d.chosen[layer])} of {d.counts[layer]} units; the image of each "
            "maximises its pre-activation at the central position. Degrees: orientation within the layer's "
            "family.</p>" + f'<div class="grid">{"".join(cells)}</div>')
    return _page(f"{d.model.name} {layer}", "../", body, [(d.model.name, "../index.html"), (layer, None)])


def _unit_page(d: _Data, layer: str, unit: int, settings) -> str:
    root = "../../"
    img = f"{root}img/{layer}/"
    units = d.chosen[layer]
    i = units.index(unit)
    step = []
    if i > 0:
        step.append(f'<a rel="prev" href="{units[i - 1]}.html">← {units[i - 1]}</a>')
    if i + 1 < len(units):
        step.append(f'<a rel="next" href="{units[i + 1]}.html">{units[i + 1]} →</a>')
    sections = [f'<h1>{html.escape(layer)}:{unit}</h1><p class="step">{" ".join(step)}</p>']
    size = settings.size
    vis = [(f'<figure><img src="{img}{unit}_pos.png" width="{size}" height="{size}" alt="positive">'
           "<figcaption>positive</figcaption></figure>"),
           (f'<figure><img src="{img}{unit}_neg.png" width="{size}" height="{size}" alt="negative">'
           "<figcaption>negative</figcaption></figure>")]
    vis += [f'<figure><img src="{img}{name}" width="{size}" height="{size}" alt="diverse">'
            f"<figcaption>diverse {k + 1}</figcaption></figure>" for k, name in enumerate(d.diverse(layer, unit))]
    sections.append(f'<section><h2>Feature visualisation</h2><div class="row">{"".join(vis)}</div></section>')
    sections.append(_family_section(d, layer, unit))
    sections.append(_examples_section(d, layer, unit, img, settings))
    sections.append(_histogram_section(d, layer, unit))
    sections.append(_weights_section(d, layer, unit, root))
    crumbs = [(d.model.name, f"{root}index.html"), (layer, f"{root}layers/{layer}.html"), (str(unit), None)]
    return _page(f"{d.model.name} {layer}:{unit}", root, "\n".join(s for s in sections if s), crumbs)


def _family_section(d: _Data, layer: str, unit: int) -> str:
    family = d.family(layer)
    if family is None:
        return ""
    if "error" in family:
        return f"<section><h2>Family</h2><p>Not measured: {html.escape(family['error'])}</p></section>"
    member = d.members(layer).get(unit)
    kind = family["kind"]
    if member:
        text = (f"A member of {layer}'s {kind} family ({len(family['members'])} units): orientation "
                f"{member['orientation_deg']:.0f}° (outward normal, counter-clockwise from +x), peak "
                f"{member['peak_z']:.1f} SD, width {member['width_deg']:.0f}°.")
    elif family["members"]:
        text = f"Not a member of {layer}'s {kind} family ({len(family['members'])} units)."
    else:
        text = f"find_family found no {kind} family in {layer}."
    radial = family.get("radial")
    svg = ""
    if radial and unit in radial["units"]:
        svg = _radial_svg(radial["orientation_deg"], radial["z"][radial["units"].index(unit)])
        text += " The radial plot: its response to curves by orientation, at the radius where it peaks."
    return f"<section><h2>Family</h2><p>{html.escape(text)}</p>{svg}</section>"


def _examples_section(d: _Data, layer: str, unit: int, img: str, settings) -> str:
    rows = d.examples(layer, unit)
    if not rows:
        return "<section><h2>Dataset examples</h2><p>No examples (no readable images).</p></section>"
    cells = "".join(
        f'<figure><img src="{img}{unit}_top{k}.png" width="{settings.thumb}" height="{settings.thumb}" '
        f'alt="{html.escape(r["image"])}" title="{html.escape(r["image"])} at {r["y"]},{r["x"]}">'
        f'<figcaption>{r["z"]:+.1f} SD</figcaption></figure>' for k, r in enumerate(rows))
    return ("<section><h2>Dataset examples</h2><p>The largest activations over the images, each cropped to "
            "its receptive field; pre-activation in SDs of the unit's dataset distribution.</p>"
            f'<div class="row">{cells}</div></section>')


def _histogram_section(d: _Data, layer: str, unit: int) -> str:
    stats = d.stats(layer)
    hist = stats.hist[unit].astype(np.float64)
    edges = stats.edges[unit]
    mean, std = float(stats.mean[unit]), float(stats.std[unit])
    caption = (f"Pre-activation over {stats.images} images ({stats.count} positions): mean {mean:.3g}, "
               f"SD {std:.3g}; x in SDs from the mean, bar heights on a log scale.")
    if not std > 0:
        return (f"<section><h2>Activation histogram</h2><p>{html.escape(caption)} The unit is constant: "
                "no histogram.</p></section>")
    inner = hist[1:-1]
    width = len(inner) // math.gcd(len(inner), 64)  # bins per bar: at most 64 bars
    counts = inner.reshape(-1, width).sum(1)
    sd_edges = (edges[::width] - mean) / std
    return (f"<section><h2>Activation histogram</h2>{_histogram_svg(counts, sd_edges, (0 - mean) / std)}"
            f"<p>{html.escape(caption)} Outside the range: {int(hist[0])} below, {int(hist[-1])} above.</p></section>")


def _weights_section(d: _Data, layer: str, unit: int, root: str) -> str:
    parts = []
    prev, nxt = d.previous(layer), d.following(layer)
    if prev and d.weights_error(layer):
        parts.append(f"<p>No inputs from {prev}: {html.escape(d.weights_error(layer))}</p>")
    elif prev:
        strength = d.strength(layer)[unit]
        order = np.argsort(-strength, kind="stable")[:TOP]
        kernels = d.kernels(layer)[unit][order]
        parts.append(_weight_list(f"Strongest inputs from {prev}", prev, order, kernels, root, d))
    if nxt and d.weights_error(nxt):
        parts.append(f"<p>No outputs to {nxt}: {html.escape(d.weights_error(nxt))}</p>")
    elif nxt:
        strength = d.strength(nxt)[:, unit]
        order = np.argsort(-strength, kind="stable")[:TOP]
        kernels = d.kernels(nxt)[order, unit]
        parts.append(_weight_list(f"Strongest outputs to {nxt}", nxt, order, kernels, root, d))
    if not parts:
        return ""
    return ("<section><h2>Weights</h2><p>Expanded weights (the linear path between the two layers: ReLUs as "
            "identity), strongest by summed |weight|; red excites, blue inhibits, one colour scale per list.</p>"
            + "".join(parts) + "</section>")


def _weight_list(title: str, other: str, order, kernels: np.ndarray, root: str, d: _Data) -> str:
    vmax = float(np.abs(kernels).max()) or 1.0
    cells = []
    for u, k in zip(order.tolist(), kernels):
        name = f"{other}:{u}"
        label = (f'<a class="weight" href="{_unit_href(root, other, u)}">{name}</a>' if u in d.shown[other]
                 else f'<span class="weight" title="not in this atlas">{name}</span>')
        cells.append(f"<figure>{_kernel_svg(k, vmax)}<figcaption>{label}<br>{float(k.sum()):+.3g}"
                     "</figcaption></figure>")
    return f'<h3>{html.escape(title)}</h3><div class="row">{"".join(cells)}</div>'


# -- inline SVG --------------------------------------------------------------------------------------

def _kernel_svg(kernel: np.ndarray, vmax: float, cell: int = 8) -> str:
    h, w = kernel.shape
    rects = []
    for y in range(h):
        for x in range(w):
            v = max(-1.0, min(1.0, float(kernel[y, x]) / vmax))
            fade = round(255 * (1 - abs(v)))
            colour = f"rgb(255,{fade},{fade})" if v >= 0 else f"rgb({fade},{fade},255)"
            rects.append(f'<rect x="{x * cell}" y="{y * cell}" width="{cell}" height="{cell}" fill="{colour}"/>')
    return (f'<svg class="kernel" width="{w * cell}" height="{h * cell}" viewBox="0 0 {w * cell} {h * cell}">'
            + "".join(rects) + "</svg>")


def _histogram_svg(counts: np.ndarray, sd_edges: np.ndarray, relu_at: float, width: int = 480,
                   height: int = 140) -> str:
    lo, hi = float(sd_edges[0]), float(sd_edges[-1])
    top = math.log10(1 + float(counts.max())) or 1.0

    def x(v):
        return round((v - lo) / (hi - lo) * width, 2)

    bars = []
    for c, a, b in zip(counts.tolist(), sd_edges[:-1].tolist(), sd_edges[1:].tolist()):
        h = round(math.log10(1 + c) / top * (height - 20), 2)
        w = max(0.5, round(x(b) - x(a), 2))
        bars.append(f'<rect x="{x(a)}" y="{round(height - 20 - h, 2)}" width="{w}" height="{h}"/>')
    ticks = []
    for t in range(math.ceil(lo), math.floor(hi) + 1):
        ticks.append(f'<line x1="{x(t)}" x2="{x(t)}" y1="{height - 20}" y2="{height - 16}" class="axis"/>'
                     f'<text x="{x(t)}" y="{height - 4}" text-anchor="middle">{t}</text>')
    relu = (f'<line x1="{x(relu_at)}" x2="{x(relu_at)}" y1="0" y2="{height - 20}" class="zero"/>'
            if lo <= relu_at <= hi else "")
    return (f'<svg class="hist" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="activation histogram"><g class="bars">{"".join(bars)}</g>{relu}{"".join(ticks)}</svg>')


def _radial_svg(orientations: list[float], values: list, radius: int = 90) -> str:
    v = np.array([np.nan if a is None else a for a in values], dtype=np.float64)
    peak = np.nanmax(np.abs(v)) if np.isfinite(v).any() else 0.0
    if not peak > 0:
        return ""
    v = v / peak
    low = min(0.0, float(np.nanmin(v)))
    r = (v - low) / (1 - low) * radius
    c = radius + 10
    points = [f"{c + ri * math.cos(math.radians(a)):.2f},{c - ri * math.sin(math.radians(a)):.2f}"
              for a, ri in zip(orientations, r) if np.isfinite(ri)]
    zero = -low / (1 - low) * radius
    return (f'<svg class="radial" width="{2 * c}" height="{2 * c}" viewBox="0 0 {2 * c} {2 * c}" role="img" '
            f'aria-label="radial tuning"><circle cx="{c}" cy="{c}" r="{radius}" class="axis"/>'
            f'<circle cx="{c}" cy="{c}" r="{zero:.2f}" class="zero"/>'
            f'<polygon points="{" ".join(points)}" class="tuning"/></svg>')
