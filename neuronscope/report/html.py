"""The report as one static HTML page: figures and style live in the output folder, no network."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path


@dataclass
class Figure:
    path: str  # relative to the report folder
    caption: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list]


@dataclass
class Section:
    title: str
    methods: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    numbers: dict[str, object] = field(default_factory=dict)
    reused: bool = False


def _cell(v) -> str:
    return html.escape(f"{v:.3g}" if isinstance(v, float) else str(v))


def _section(s: Section) -> str:
    parts = [f'<section><h2>{html.escape(s.title)}</h2>', f'<p class="methods"><b>Methods.</b> {html.escape(s.methods)}</p>']
    if s.numbers:
        items = "".join(f"<dt>{html.escape(k)}</dt><dd>{_cell(v)}</dd>" for k, v in s.numbers.items())
        parts.append(f"<dl>{items}</dl>")
    for t in s.tables:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
        body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in t.rows)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    for f in s.figures:
        src = html.escape(f.path)
        parts.append(f'<figure><a href="{src}"><img src="{src}" alt="{html.escape(f.caption)}"></a>'
                     f"<figcaption>{html.escape(f.caption)}</figcaption></figure>")
    return "\n".join(parts) + "</section>"


def write_html(out_dir: Path, title: str, intro: str, sections: list[Section]) -> Path:
    """Write out_dir/index.html and its style sheet; returns the page's path."""
    (out_dir / "style.css").write_text(resources.files("neuronscope.report").joinpath("style.css").read_text())
    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>' for i, s in enumerate(sections))
    body = "\n".join(_section(s).replace("<section>", f'<section id="s{i}">', 1) for i, s in enumerate(sections))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<link rel="stylesheet" href="style.css"></head>
<body><header><h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>
<p id="figure-check" class="check"></p><ol class="toc">{toc}</ol></header>
{body}
<script>
// Flag figures that did not load (for example after moving only index.html).
window.addEventListener("load", function () {{
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) {{ return !(i.complete && i.naturalWidth > 0); }});
  var el = document.getElementById("figure-check");
  el.textContent = broken.length ? broken.length + " of " + imgs.length + " figures failed to load"
                                 : imgs.length + " figures";
  el.className = broken.length ? "check broken" : "check ok";
  document.body.setAttribute("data-figures", imgs.length);
  document.body.setAttribute("data-broken", broken.length);
}});
</script></body></html>
"""
    path = out_dir / "index.html"
    path.write_text(page)
    return path
