"""The report: a static page whose every figure loads in a real browser, with cached stages."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import pytest

from neuronscope.report import build_report
from tests.test_families import ARCS, planted_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tempfile.mkdtemp()}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120).stdout


@pytest.fixture(scope="module")
def report(shared, tmp_path_factory):
    images = tmp_path_factory.mktemp("images")
    for p in sorted((shared / "data" / "imagenet-sample").glob("*.jpg"))[:3]:
        shutil.copy(p, images)
    out = tmp_path_factory.mktemp("report")
    model = planted_model()
    page = build_report(model, layer="0", images=images, out=out, featvis_steps=4, joint_examples=1,
                        joint_step_deg=30.0, progress=False)
    return model, images, out, page


def test_every_figure_loads_in_chromium(report):
    assert CHROMIUM, "the report test needs Debian's chromium (.ci/run installs it)"
    _, _, out, page = report
    text = page.read_text()
    assert not re.search(r"(src|href)=\"https?:", text)  # nothing fetched from the network
    figures = len(re.findall(r"<img ", text))
    assert figures >= 12
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert f'data-figures="{figures}"' in dom and 'data-broken="0"' in dom
    shot = out / "screenshot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    assert shot.stat().st_size > 10_000


def test_broken_figure_is_flagged(report, tmp_path):
    _, _, out, _ = report
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    next((copy / "stages" / "featvis").glob("*.png")).unlink()
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", (copy / "index.html").as_uri())
    assert 'data-broken="1"' in dom


def test_family_section_lists_the_planted_family(report):
    _, _, out, page = report
    text = page.read_text()
    table = text.split("The curve family", 1)[1].split("</table>", 1)[0]
    units = [int(u) for u in re.findall(r"<tr><td>(\d+)</td>", table)]
    assert units == list(range(len(ARCS)))


def test_second_run_reuses_stages_and_fresh_recomputes(report):
    model, images, out, _ = report
    records = sorted((out / "stages").glob("*/result.json"))
    before = {p: p.stat().st_mtime_ns for p in records}
    build_report(model, layer="0", images=images, out=out, featvis_steps=4, joint_examples=1, joint_step_deg=30.0,
                 progress=False)
    assert {p: p.stat().st_mtime_ns for p in records} == before
    build_report(model, layer="0", images=images, out=out, featvis_steps=5, joint_examples=1, joint_step_deg=30.0,
                 progress=False)
    changed = {p.parent.name for p in records if p.stat().st_mtime_ns != before[p]}
    assert changed == {"featvis"}  # only the stage whose inputs changed


def test_run_stage_fresh_and_interrupted(tmp_path):
    from neuronscope.report.cache import run_stage

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
