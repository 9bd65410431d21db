"""The report as one static HTML page: figures and style in the output folder (or, with
`single_file`, inlined in the page), no network.

The page checks itself when it loads: how many figures failed to load, and for each figure the
smallest text at its displayed size (from the layout `neuronscope.figures` measured when it was
saved) and any text cut off at its edge. Opened as `index.html#check`, it first opens every
collapsed block and loads every lazy image, so a headless browser sees them all.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

MIN_FONT_PX = 8.5  # smallest legible text on the page, CSS px at the displayed size


@dataclass
class Figure:
    path: str  # relative to the report folder
    caption: str
    layout: dict | None = None  # as `neuronscope.figures.recording` measured it
    group: str | None = None  # figures with the same group fold into one collapsed block (lazy images)


@dataclass
class Table:
    headers: list[str]
    rows: list[list]
    caption: str = ""
    flags: list[list[bool]] = field(default_factory=list)  # per row, per cell: flagged


@dataclass
class Section:
    title: str
    methods: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    numbers: dict[str, object] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # warnings and pointers, shown before the figures
    seconds: float = 0.0  # how long computing the section took (kept when it is reused)
    reused: bool = False


def _cell(v) -> str:
    return html.escape(f"{v:.4g}" if isinstance(v, float) else str(v))


def _img(f: Figure, out_dir: Path, inline: bool, lazy: bool) -> str:
    src = f.path
    if inline:
        src = "data:image/png;base64," + base64.b64encode((out_dir / f.path).read_bytes()).decode()
    attrs = [f'src="{html.escape(src)}"', f'alt="{html.escape(f.caption)}"']
    if lazy:
        attrs.append('loading="lazy"')
    if f.layout:
        attrs += [f'data-min-font-pt="{f.layout["min_font_pt"]}"', f'data-dpi="{f.layout["dpi"]}"',
                  f'data-clipped="{len(f.layout["clipped"])}"',
                  f'data-overlaps="{len(f.layout.get("overlaps", []))}"']
    img = f"<img {' '.join(attrs)}>"
    if not inline:
        img = f'<a href="{html.escape(f.path)}">{img}</a>'
    return f"<figure>{img}<figcaption>{html.escape(f.caption)}</figcaption></figure>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    rows = []
    for i, row in enumerate(t.rows):
        flags = t.flags[i] if i < len(t.flags) else []
        cells = "".join(f'<td{" class=flag" if j < len(flags) and flags[j] else ""}>{_cell(v)}</td>'
                        for j, v in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _section(i: int, s: Section, out_dir: Path, inline: bool) -> str:
    timing = f"{'reused, ' if s.reused else ''}computed in {s.seconds:.0f} s"
    parts = [f'<section id="s{i}"><h2>{html.escape(s.title)} <small>{timing}</small></h2>',
             f'<p class="methods"><b>Methods.</b> {html.escape(s.methods)}</p>']
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in s.notes]
    if s.numbers:
        items = "".join(f"<dt>{html.escape(k)}</dt><dd>{_cell(v)}</dd>" for k, v in s.numbers.items())
        parts.append(f"<dl>{items}</dl>")
    parts += [_table(t) for t in s.tables]
    groups: dict[str, list[Figure]] = {}
    for f in s.figures:
        if f.group is None:
            parts.append(_img(f, out_dir, inline, lazy=False))
        else:
            if f.group not in groups:
                groups[f.group] = []
                parts.append(("group", f.group))
            groups[f.group].append(f)
    out = []
    for p in parts:
        if isinstance(p, tuple):
            figs = "".join(_img(f, out_dir, inline, lazy=True) for f in groups[p[1]])
            out.append(f"<details><summary>{html.escape(p[1])}</summary>{figs}</details>")
        else:
            out.append(p)
    return "\n".join(out) + "</section>"


_SCRIPT = """
// Check the figures: loaded, text legible at the displayed size, nothing cut off or drawn over text.
// index.html#check opens every block and loads every lazy image first.
(function () {
  var MIN_PX = %(min_px)s;
  function measure() {
    var imgs = Array.prototype.slice.call(document.images), broken = 0, small = 0, clipped = 0,
        overlapping = 0;
    imgs.forEach(function (i) {
      if (!(i.complete && i.naturalWidth > 0)) { broken++; return; }
      if (i.dataset.minFontPt) {
        var px = i.dataset.minFontPt * i.dataset.dpi / 72 * i.getBoundingClientRect().width / i.naturalWidth;
        i.setAttribute("data-font-px", px.toFixed(2));
        i.setAttribute("data-shown-width", i.getBoundingClientRect().width.toFixed(1));
        if (px < MIN_PX) small++;
      }
      if (+i.dataset.clipped > 0) clipped++;
      if (+i.dataset.overlaps > 0) overlapping++;
    });
    var el = document.getElementById("figure-check");
    var problems = (small ? ", " + small + " with text under " + MIN_PX + " px" : "")
                   + (clipped ? ", " + clipped + " with text cut off" : "")
                   + (overlapping ? ", " + overlapping + " with text drawn over text" : "");
    el.textContent = broken ? broken + " of " + imgs.length + " figures failed to load"
                            : imgs.length + " figures" + problems;
    el.className = broken || small || clipped || overlapping ? "check broken" : "check ok";
    document.body.setAttribute("data-figures", imgs.length);
    document.body.setAttribute("data-broken", broken);
    document.body.setAttribute("data-small-text", small);
    document.body.setAttribute("data-clipped", clipped);
    document.body.setAttribute("data-overlaps", overlapping);
    document.body.setAttribute("data-page-width", document.documentElement.clientWidth);
  }
  window.addEventListener("load", function () {
    if (location.hash !== "#check") { measure(); return; }
    var imgs = Array.prototype.slice.call(document.images);
    Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = true; });
    var waiting = imgs.length;
    function one() { if (--waiting === 0) measure(); }
    if (!waiting) measure();
    imgs.forEach(function (i) {
      if (i.complete && i.naturalWidth > 0) { one(); return; }
      i.addEventListener("load", one);
      i.addEventListener("error", one);
      i.loading = "eager";
      i.src = i.getAttribute("src");
    });
  });
})();
"""


def write_html(out_dir: Path, title: str, intro: list[str], sections: list[Section], single_file: bool = False) -> Path:
    """Write out_dir/index.html (and its style sheet, unless `single_file`: then the style and
    every image are inlined); returns the page's path."""
    style = resources.files("neuronscope.report").joinpath("style.css").read_text()
    if single_file:
        head_style = f"<style>{style}</style>"
    else:
        (out_dir / "style.css").write_text(style)
        head_style = '<link rel="stylesheet" href="style.css">'
    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections))
    body = "\n".join(_section(i, s, out_dir, single_file) for i, s in enumerate(sections))
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in intro)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
{head_style}</head>
<body><header><h1>{html.escape(title)}</h1>{paragraphs}
<p id="figure-check" class="check"></p><ol class="toc">{toc}</ol></header>
{body}
<script>{_SCRIPT % {"min_px": json.dumps(MIN_FONT_PX)}}</script></body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page)
    return path
