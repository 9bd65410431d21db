"""The report: a static page that a real browser shows at 1,400 px with every figure loaded,
legible and uncut, built from cached stages keyed on their inputs and code."""

from __future__ import annotations

import html as htmllib
import json
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from neuronscope.figures import recording, save_figure, save_side_by_side
from neuronscope.report import build_report
from neuronscope.report.cache import code_digest, content_digest, run_stage
from neuronscope.report.html import MIN_FONT_PX
from tests.test_families import ARCS, planted_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SETTINGS = {"layer": "0", "featvis_steps": 4, "joint_examples": 1, "joint_step_deg": 30.0}


def chromium(*args) -> str:
    assert CHROMIUM, "the report test needs Debian's chromium (.ci/run installs it)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp()}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120).stdout


def body_attrs(dom: str) -> dict:
    tag = re.search(r"<body([^>]*)>", dom).group(1)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))


@pytest.fixture(scope="module")
def report(shared, tmp_path_factory):
    images = tmp_path_factory.mktemp("images")
    for p in sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:3]:
        shutil.copy(p, images)
    out = tmp_path_factory.mktemp("report")
    model = planted_model()
    build_report(model, images=images, out=out, progress=False, **SETTINGS)
    # label unit 0's examples by a known rule (above zero: "curve"), then rebuild: only labelling reruns
    from neuronscope.dataset.labelling import LabelSession

    session = LabelSession(out / "stages" / "stats" / "stats", 0)
    for i, item in enumerate(session.items):
        session.answer(i, "curve" if item.example.value > 0 else "unrelated")
    page = build_report(model, images=images, out=out, progress=False, **SETTINGS)
    return model, images, out, page


def test_figures_are_legible_and_uncut_in_chromium_at_1400px(report):
    _, _, out, page = report
    text = page.read_text()
    assert not re.search(r"(src|href)=\"https?:", text)  # nothing fetched from the network
    imgs = re.findall(r"<img [^>]*>", text)
    assert len(imgs) >= 20
    dom = chromium("--window-size=1400,1000", "--virtual-time-budget=10000", "--dump-dom", page.as_uri() + "#check")
    page_attrs = body_attrs(dom)
    assert int(page_attrs["page-width"]) == 1400
    assert page_attrs["figures"] == str(len(imgs)) and page_attrs["broken"] == "0"
    assert page_attrs["small-text"] == "0" and page_attrs["clipped"] == "0" and page_attrs["overlaps"] == "0"
    # independently of the page's script: the manifest's layout, scaled to the width shown
    manifest = {m["path"]: m for m in json.loads((out / "figures.json").read_text())}
    shown = re.findall(r'<img src="([^"]+)"[^>]*data-font-px="([\d.]+)" data-shown-width="([\d.]+)"', dom)
    assert len(shown) == len(imgs)  # every figure was measured in the browser
    for src, font_px, width in shown:
        m = manifest[htmllib.unescape(src)]
        assert Image.open(out / m["path"]).size == (m["width"], m["height"])
        expected = m["min_font_pt"] * m["dpi"] / 72 * float(width) / m["width"]
        assert float(font_px) == pytest.approx(expected, rel=0.02)
        assert expected >= MIN_FONT_PX, f"{src}: smallest text {expected:.1f} px at 1400 px"
        assert m["clipped"] == [], f"{src}: text cut off: {m['clipped']}"
        assert m["overlaps"] == [], f"{src}: text drawn over text: {m['overlaps']}"
        x0, y0, x1, y1 = m["tight_px"]
        assert x0 >= -2 and y0 >= -2 and x1 <= m["width"] + 2 and y1 <= m["height"] + 2, (src, m["tight_px"])
    shot = out / "screenshot.png"
    chromium(f"--screenshot={shot}", "--window-size=1400,3000", page.as_uri())
    pixels = np.asarray(Image.open(shot).convert("L"), float)
    assert pixels.shape[1] == 1400 and pixels.std() > 10  # a page with content, not a blank one


def test_broken_figure_is_flagged(report, tmp_path):
    _, _, out, _ = report
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    next((copy / "stages" / "featvis").glob("*.png")).unlink()
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", (copy / "index.html").as_uri())
    assert body_attrs(dom)["broken"] == "1"


def _table(text: str, title: str, which: int = 0) -> list[list[str]]:
    section = text.split(f">{title} <small>", 1)[1].split("</section>", 1)[0]
    table = section.split("<tbody>")[which + 1].split("</tbody>")[0]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in table.split("</tr>") if "<td" in row]


def test_family_table_and_morphs_at_family_orientations(report):
    model, _, out, page = report
    text = page.read_text()
    family = _table(text, "The curve family")
    assert [int(r[0]) for r in family] == list(range(len(ARCS)))
    for row, planted in zip(family, ARCS):
        assert abs(float(row[1]) - planted) <= 6  # orientation, against the planted arc
    morphs = {int(r[0]): (float(r[1]), float(r[2])) for r in _table(text, "Synthetic stimuli")}
    assert set(morphs) == {int(r[0]) for r in family}
    for row in family:
        family_deg, drawn = morphs[int(row[0])]
        assert family_deg == pytest.approx(float(row[1]), abs=0.051)
        assert drawn == pytest.approx(family_deg, abs=0.051)  # drawn at the family orientation, not its argmax
    saved = json.loads((out / "stages" / "synthetic" / "morphs.json").read_text())
    for u in saved["units"]:  # the sweep itself held each member's family orientation
        assert min(abs(np.array(saved["axes"]["orientation_deg"]) - morphs[u][0])) < 0.051


def test_sparsity_column_is_the_share_of_positions_above_zero(report):
    model, images, out, page = report
    import torch

    from neuronscope.images import standard_view

    pixels = torch.stack([standard_view(p) for p in sorted(images.iterdir())])
    acts = model.capture(pixels, ["0"], pre_relu=True)["0"]
    for row in _table(page.read_text(), "The curve family"):
        share = (acts[:, int(row[0])] > 0).float().mean().item()
        assert float(row[2]) == pytest.approx(100 * share, abs=0.051 + 1e-9)


def test_statistics_basis_is_stated(report):
    _, images, out, page = report
    text = page.read_text()
    section = text.split("Dataset statistics of the layer", 1)[1].split("</section>", 1)[0]
    assert "<dt>images</dt><dd>3</dd>" in section and "<dt>values per unit</dt>" in section
    assert "Thin statistics: 3 images" in section  # and a warning, with what to do
    assert "--images" in section


def test_reuse_counts_original_time_and_progress_is_line_by_line(report, capfd):
    model, images, out, _ = report
    records = sorted((out / "stages").glob("*/result.json"))
    before = {p: p.stat().st_mtime_ns for p in records}
    page = build_report(model, images=images, out=out, progress=True, **SETTINGS)
    assert {p: p.stat().st_mtime_ns for p in records} == before
    seconds = sum(json.loads(p.read_text())["result"]["seconds"] for p in records)
    built = re.search(r"Built in (\d+) s of computation \((\d+) of (\d+) stages reused", page.read_text())
    assert built and abs(int(built.group(1)) - seconds) <= 1 and built.group(2) == built.group(3)
    err = capfd.readouterr().err
    assert "\r" not in err
    assert len(re.findall(r"^  \[\d+/\d+\] \w+: reused \(computed in [\d.]+ s\)$", err, re.M)) == len(records)
    build_report(model, images=images, out=out, progress=False, **{**SETTINGS, "featvis_steps": 5})
    changed = {p.parent.name for p in records if p.stat().st_mtime_ns != before[p]}
    assert changed == {"featvis"}  # only the stage whose inputs changed


def test_single_file_inlines_every_image(report, tmp_path):
    model, images, out, _ = report
    page = build_report(model, images=images, out=out, progress=False, single_file=True, **SETTINGS)
    alone = tmp_path / "sent.html"
    shutil.copy(page, alone)  # the page alone, away from its folder
    text = alone.read_text()
    assert 'src="data:image/png;base64,' in text and not re.search(r'src="(?!data:)', text)
    assert "stylesheet" not in text
    attrs = body_attrs(chromium("--window-size=1400,1000", "--virtual-time-budget=10000", "--dump-dom",
                                alone.as_uri() + "#check"))
    assert attrs["broken"] == "0" and int(attrs["figures"]) >= 20
    build_report(model, images=images, out=out, progress=False, **SETTINGS)  # back to the linked page


def test_stage_keys_notice_image_content_and_code(tmp_path, monkeypatch):
    from neuronscope.dataset import resolve_source

    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("RGB", (32, 32), (10, 20, 30)).save(folder / "a.png")
    before = content_digest(resolve_source(folder))
    assert content_digest(resolve_source(folder)) == before
    Image.new("RGB", (32, 32), (200, 20, 30)).save(folder / "a.png")  # same name and size, new content
    assert content_digest(resolve_source(folder)) != before
    bundled = resolve_source(None)
    assert content_digest(bundled) == content_digest(bundled)
    changed = type(bundled)(bundled.kind, None, bundled.ids, {**bundled.arrays, bundled.ids[0]:
                                                                bundled.arrays[bundled.ids[0]] // 2})
    assert content_digest(changed) != content_digest(bundled)

    package = tmp_path / "pkg_for_digest"
    package.mkdir()
    (package / "__init__.py").write_text("X = 1\n")
    (package / "more.py").write_text("THRESHOLD = 4.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    first = code_digest("pkg_for_digest")
    (package / "more.py").write_text("THRESHOLD = 3.0\n")  # a threshold changes in a submodule
    code_digest.cache_clear()
    assert code_digest("pkg_for_digest") != first


def test_run_stage_fresh_and_interrupted(tmp_path):
    calls = []

    def compute(folder):
        calls.append(folder)
        (folder / "x.txt").write_text("x")
        return {"n": len(calls)}

    assert run_stage(tmp_path, "s", {"a": 1}, compute) == ({"n": 1}, False)
    assert run_stage(tmp_path, "s", {"a": 1}, compute) == ({"n": 1}, True)
    assert run_stage(tmp_path, "s", {"a": 1}, compute, fresh=True) == ({"n": 2}, False)

    def interrupted(folder):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stage(tmp_path, "s", {"a": 2}, interrupted)
    assert run_stage(tmp_path, "s", {"a": 2}, compute) == ({"n": 3}, False)  # no stale result survives


def test_figure_layout_is_measured_as_drawn(tmp_path):
    with recording() as layouts:
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([0, 1])
        ax.set_xlabel("small", fontsize=5.5)
        save_figure(fig, tmp_path / "ok.png")
        fig = Figure(figsize=(4, 3))
        fig.text(0.9, 0.5, "runs_off_the_right_edge", fontsize=12)
        save_figure(fig, tmp_path / "cut.png")
        fig = Figure(figsize=(4, 3), layout="constrained")  # matplotlib stacks both at the top, one over the other
        fig.subplots().plot([0, 1], label="a line")
        fig.legend(loc="outside upper center")
        fig.suptitle("a title the legend is drawn over")
        save_figure(fig, tmp_path / "covered.png")
        fig = Figure(figsize=(4, 3), layout="constrained")
        for i, angle in enumerate((60, 60, 0)):  # slanted neighbours are fine; a flat label over them is not
            fig.text(0.3 + 0.05 * i, 0.5, "slanted tick label" if angle else "flat", rotation=angle)
        save_figure(fig, tmp_path / "slanted.png")
        fig = Figure(figsize=(4, 3), layout="constrained")
        ax = fig.subplots()
        ax.plot([0, 1], [0, 1], label="diagonal")
        ax.axvline(0.9, label="actual")  # under the legend, no vertex inside it: sampled along the segment
        ax.legend(loc="upper right")
        save_figure(fig, tmp_path / "over_data.png")
        left, right = Figure(figsize=(4, 3)), Figure(figsize=(2, 2))
        left.text(0.1, 0.5, "fits", fontsize=9)
        right.text(0.9, 0.5, "cut_off_here", fontsize=7)
        save_side_by_side([left, right], tmp_path / "both.png")
    ok, cut, covered, slanted, over_data, both = layouts
    assert Image.open(tmp_path / "both.png").size == (600, 300) == (both["width"], both["height"])
    assert both["clipped"] == ["cut_off_here"] and both["min_font_pt"] == 7 and both["tight_px"][2] > 600
    assert over_data["overlaps"] == ["legend | data: diagonal", "legend | data: actual"]
    assert ok["overlaps"] == [] and cut["overlaps"] == []
    assert covered["overlaps"] == ["a title the legend is drawn over | a line",
                                   "legend | a title the legend is drawn over"]
    assert slanted["overlaps"] == ["slanted tick label | flat", "slanted tick label | flat"]
    assert ok["min_font_pt"] == 5.5 and ok["clipped"] == [] and (ok["width"], ok["height"]) == (400, 300)
    assert ok["tight_px"][2] <= 400 and ok["tight_px"][3] <= 300
    assert cut["clipped"] == ["runs_off_the_right_edge"] and cut["tight_px"][2] > 400
    # the text really is cut: ink reaches the right edge of the PNG
    edge = np.asarray(Image.open(tmp_path / "cut.png").convert("L"))[:, -3:]
    assert edge.min() < 128


def test_every_section_is_on_the_page_with_figures_or_a_reason(report):
    _, _, out, page = report
    text = page.read_text()
    titles = ["Dataset statistics of the layer", "The curve family", "Feature visualisations",
              "Decomposed feature visualisations", "How the family responds to the dataset",
              "Attribution of dataset examples", "Synthetic stimuli", "Joint tuning curves", "Families across layers",
              "Curve circuits", "Artificial curve detectors and surgery", "Labelling: what the activations are made of",
              "Applications"]
    found = re.findall(r"<h2>([^<]+) <small>", text)
    assert found == titles
    for section in text.split('<section id="s')[1:]:
        assert "<img " in section or "Not shown: " in section, section[:200]
    # the planted model has one layer: the circuit needs an earlier family, and the page says so
    circuits = text.split(">Curve circuits <small>")[1].split("</section>")[0]
    assert "Not shown: no earlier layer with a curve family" in circuits


def test_labels_split_the_mean_by_category(report):
    _, _, out, page = report
    from neuronscope.dataset.labelling import LabelSession

    row = _table(page.read_text(), "Labelling: what the activations are made of")[0]
    assert int(row[0]) == 0
    session = LabelSession(out / "stages" / "stats" / "stats", 0)
    assert int(row[1]) == session.answered == len(session)
    # labels followed the sign of the value: the categories never used carry nothing, the shares add up,
    # and "curve" (every answer above zero) carries most of the positive part of the mean
    shares = dict(zip(["curve", "imperfect curve", "unrelated", "opposing curve", "not labelled"], map(float, row[2:])))
    assert shares["imperfect curve"] == 0 and shares["opposing curve"] == 0 and shares["not labelled"] == 0
    assert sum(shares.values()) == pytest.approx(100, abs=0.3)
    assert shares["curve"] > shares["unrelated"]


def test_attribution_steps_back_to_a_spatial_source():
    import neuronscope as ns
    from neuronscope.report.more_sections import spatial_source

    model = ns.load_model("efficientnet_lite0")
    # block6_expand is a 1x1 convolution of block5 (itself 1x1 after the depthwise): block5_expand is the
    # nearest layer it sees more than one position of
    assert spatial_source(model, "block6_expand") == "block5_expand"
    source, target = model.receptive_field("block5_expand"), model.receptive_field("block6_expand")
    assert (target.size[0] - source.size[0]) / source.stride[0] + 1 >= 3


def test_surgery_table_on_labelled_images(tmp_path):
    """The aann section's surgery table, on the tiny model whose class is decided by unit 0 alone:
    ablating it sends every image to class 0 (5 of 8 right); the faithful replacement restores it."""
    from types import SimpleNamespace

    from neuronscope.report.build import _labels
    from neuronscope.report.more_sections import surgery_table
    from tests.test_surgery import Tiny, artificial

    import neuronscope as ns

    folder = tmp_path / "colours"
    folder.mkdir()
    lines = ["file,cls"]
    for i, (rgb, label) in enumerate([((230, 25, 25), 0)] * 5 + [((25, 25, 230), 1)] * 3):
        Image.fromarray(np.full((64, 64, 3), rgb, dtype=np.uint8)).save(folder / f"{i}.png")
        lines.append(f"{i}.png,{label}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    labels = _labels((tmp_path / "labels.csv", "cls"), folder)
    assert len(labels["sha256"]) == 64  # the stage key follows the file's content
    ctx = SimpleNamespace(model=ns.wrap(Tiny(), layers={"source": "relu", "layer": None}, name="tiny"),
                          layer="layer", images=folder, labels=labels, bars=False)
    table = surgery_table(ctx, [0], artificial([2.0, 0.0, -2.0]))
    rows = {r[0]: r for r in table.rows}
    assert rows["unchanged"][2].startswith("100.0%") and rows["replaced"][2].startswith("100.0%")
    assert rows["ablated"][1] == 1 and rows["ablated"][2].startswith("62.5%")
    assert rows["random (mean of seeds)"][2].startswith("100.0%")  # the head ignores units 1-3
    assert "8 images" in table.caption and "ablation drop 37.5 points" in table.caption
