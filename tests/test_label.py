"""Blind labelling: every stratified sample once in a seeded order, answers kept across restarts and
crashes, a real web server and a stdin session, and figures that split the exact histogram by label."""

from __future__ import annotations

import io
import json
import re
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.dataset import LabelSession, compute_stats, label_in_terminal, load_stats, make_server
from neuronscope.dataset.labelling import contribution_shares, plot_label_figures, split_histogram
from neuronscope.dataset.labelling.terminal import render
from neuronscope.errors import NeuronscopeError
from tests.test_dataset import SIZE, Tiny, folder, one_thread, raw_activations  # noqa: F401 - fixtures

UNIT = 1
EMPTY = np.iinfo(np.int64).max


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")


@pytest.fixture(scope="module")
def finished(model, folder, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("result")
    compute_stats(model, "conv2", folder, out, resize=SIZE, size=SIZE, batch_size=4, workers=0, figures="none",
                  progress=False, per_stratum=3)
    return out


@pytest.fixture
def result(finished, tmp_path):
    """A fresh copy of the finished result, so every test starts without labels."""
    return shutil.copytree(finished, tmp_path / "result")


def _stored_samples(stats, unit):
    """{(image, y, x): stratum} decoded from the raw sample arrays (8 x 8 positions per image)."""
    out = {}
    for stratum, gids in enumerate(stats.arrays["sample_gid"][unit]):
        for gid in gids[gids != EMPTY].tolist():
            image, pos = divmod(gid, 64)
            out[(image, *divmod(pos, 8))] = stratum
    return out


def test_every_sample_once_in_a_seeded_order_and_answers_survive_restarts(result, tmp_path):
    session = LabelSession(result, UNIT)
    expected = _stored_samples(load_stats(result), UNIT)
    shown = {(it.example.image, it.example.y, it.example.x): it.stratum for it in session.items}
    assert shown == expected and len(session) == len(expected) > 10
    assert len({it.stratum for it in session.items}) > 2
    strata = [it.stratum for it in session.items]
    assert strata != sorted(strata) and strata != sorted(strata, reverse=True)  # shuffled across strata
    other = shutil.copytree(result, tmp_path / "other", ignore=shutil.ignore_patterns("labels"))
    assert [it.key for it in LabelSession(other, UNIT, seed=5).items] != [it.key for it in session.items]
    assert [it.key for it in LabelSession(other, UNIT, seed=5).items] == [it.key for it in
                                                                          LabelSession(other, UNIT, seed=5).items]

    for label in ("curve", "curve", "unrelated"):
        session.answer(session.next_index(), label)
    assert session.undo() == 2 and session.next_index() == 2
    session.answer(2, "opposing curve")
    session.answer(0, "imperfect curve")  # a corrected answer: the last one counts
    lines = session.path.read_text().splitlines()
    assert len(lines) == 1 + 6 and json.loads(lines[0])["categories"][0] == "curve"

    again = LabelSession(result)  # the unit of the one session in the folder
    assert again.unit == UNIT and again.next_index() == 3
    assert again.answers == {0: "imperfect curve", 1: "curve", 2: "opposing curve"}
    with open(again.path, "a") as handle:
        handle.write('{"index": 3, "item": "0:1')  # a crash in the middle of a write
    resumed = LabelSession(result, UNIT)
    assert resumed.answered == 3
    resumed.answer(3, "unrelated")
    assert LabelSession(result).answers[3] == "unrelated"

    for kwargs in ({"categories": ["a", "b"]}, {"seed": 7}):
        with pytest.raises(NeuronscopeError, match="different"):
            LabelSession(result, UNIT, **kwargs)
    for index, label in ((0, "tree"), (len(session), "curve"), ("1", "curve")):
        with pytest.raises(NeuronscopeError):
            resumed.answer(index, label)
    with pytest.raises(NeuronscopeError):
        LabelSession(result, UNIT, categories=["a", "a"])
    assert LabelSession(result, 2).answered == 0 and LabelSession(result).unit == UNIT  # no file until answered
    LabelSession(result, 2).answer(0, "curve")
    with pytest.raises(NeuronscopeError, match="--neuron"):
        LabelSession(result)  # two sessions now


def _request(base, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers["Content-Type"], response.read()


def test_web_page_on_localhost_shows_crops_blind_and_saves_each_answer(result, folder):  # noqa: F811
    session = LabelSession(result, UNIT, categories=["curve", "other"])
    server = make_server(session, port=0)
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = server.url.rstrip("/")
    try:
        assert host == "127.0.0.1" and base.startswith(f"http://127.0.0.1:{port}/s/")
        kind, page = _request(base, "/")
        assert kind.startswith("text/html") and b"<script>" in page
        assert b"http" not in page  # no external assets; the one link is the page's own icon (no /favicon.ico)
        assert re.findall(rb"<link[^>]*>", page) == [b'<link rel="icon" href="icon.png">']
        kind, icon = _request(base, "/icon.png")
        assert kind == "image/png" and Image.open(io.BytesIO(icon)).size == (16, 16)

        _, body = _request(base, "/api/item")
        item = json.loads(body)
        assert item == {"index": 0, "answered": 0, "total": len(session), "categories": ["curve", "other"],
                        "neuron": f"conv2:{UNIT}"}  # nothing about the activation, image or stratum

        kind, png = _request(base, "/crop/0.png")
        example, field = session.items[0].example, load_stats(result).receptive_field
        top, left, bottom, right = field.box(example.y, example.x)
        expected = np.full((bottom - top, right - left, 3), 128, np.uint8)  # grey where it leaves the image
        pixels = np.asarray(Image.open(folder / example.image_id).convert("RGB"))
        inside = pixels[max(top, 0) : bottom, max(left, 0) : right]
        dy, dx = max(-top, 0), max(-left, 0)
        expected[dy : dy + inside.shape[0], dx : dx + inside.shape[1]] = inside
        assert kind == "image/png"
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), expected)

        _, body = _request(base, "/api/answer", {"index": 0, "label": "other"})
        assert json.loads(body)["index"] == 1 and json.loads(body)["answered"] == 1
        last = json.loads(session.path.read_text().splitlines()[-1])
        assert last["index"] == 0 and last["label"] == "other" and last["item"] == session.items[0].key
        for bad in ({"index": 1, "label": "tree"}, {"index": 99999, "label": "curve"}, {"label": "curve"}):
            with pytest.raises(urllib.error.HTTPError) as error:
                _request(base, "/api/answer", bad)
            assert error.value.code == 400
        with pytest.raises(urllib.error.HTTPError) as error:
            _request(base, "/crop/99999.png")
        assert error.value.code == 404
        assert len(session.path.read_text().splitlines()) == 2  # the bad answers were not saved

        _, body = _request(base, "/api/undo", {})
        assert json.loads(body)["index"] == 0 and json.loads(body)["answered"] == 0
        for i in range(len(session)):
            _, body = _request(base, "/api/answer", {"index": i, "label": "curve" if i % 2 else "other"})
        assert json.loads(body)["index"] is None and json.loads(body)["answered"] == len(session)
    finally:
        server.shutdown()
        server.server_close()
    reloaded = LabelSession(result)
    assert reloaded.answers == {i: "curve" if i % 2 else "other" for i in range(len(session))}


def test_terminal_session_reads_stdin_and_the_cli_continues_it(result, monkeypatch, capsys):
    session = LabelSession(result, UNIT)
    out = io.StringIO()
    # 1 -> curve; a name; junk is asked again; u takes back item 1; 3 -> unrelated; 4; end of input stops
    answered = label_in_terminal(session, io.StringIO("1\nImperfect curve\nmaybe\nu\n3\n4\n"), out)
    assert answered == 3 and session.answers == {0: "curve", 1: "unrelated", 2: "opposing curve"}
    text = out.getvalue()
    assert "answer with 1-4" in text and "\u2580" in text and f"item 4 of {len(session)}" in text

    monkeypatch.setattr("sys.stdin", io.StringIO("2\nq\n"))
    assert main(["label", str(result), "--terminal"]) == 0
    assert LabelSession(result).answers == {0: "curve", 1: "unrelated", 2: "opposing curve", 3: "imperfect curve"}
    assert "saved 4 of" in capsys.readouterr().out


def test_render_draws_two_pixel_rows_per_line():
    image = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])
    assert render(image, 2) == ("\x1b[38;2;255;0;0m\x1b[48;2;0;0;255m\u2580"
                                "\x1b[38;2;0;0;255m\x1b[48;2;255;0;0m\u2580\x1b[0m\n")


def test_figures_split_the_exact_histogram_by_the_answers(result, model, folder, tmp_path, capsys):  # noqa: F811
    session = LabelSession(result, UNIT)
    stats = session.stats
    values = raw_activations(model, folder)[:, UNIT].ravel().astype(np.float64)
    edges = stats.strata_edges[UNIT]
    stratum_of = np.searchsorted(edges, values, side="right") - 1
    labelled = sorted({it.stratum for it in session.items})
    skipped, mixed = labelled[0], labelled[-2]  # no answers in the lowest stratum; a mix in one other
    seen = {}
    for index, item in enumerate(session.items):
        if item.stratum == skipped:
            continue
        seen[item.stratum] = seen.get(item.stratum, 0) + 1
        first_of_mixed = item.stratum == mixed and seen[item.stratum] == 1
        session.answer(index, "curve" if item.stratum == labelled[-1] or first_of_mixed else "unrelated")
    n_mixed = sum(it.stratum == mixed for it in session.items)
    assert n_mixed >= 2

    # P(curve | stratum): 1 in the top stratum, 1/n in the mixed one, 0 elsewhere; nothing known below
    p_curve = np.where(stratum_of == labelled[-1], 1.0, np.where(stratum_of == mixed, 1 / n_mixed, 0.0))
    unknown = stratum_of == skipped
    names, parts = split_histogram(session)
    assert names == [*session.categories, "not labelled"]
    np.testing.assert_allclose(parts.sum(0), stats.hist[UNIT])
    assert parts[0].sum() == pytest.approx(p_curve.sum())
    assert parts[-1].sum() == pytest.approx(unknown.sum())
    assert parts[2].sum() == pytest.approx((~unknown).sum() - p_curve.sum())
    assert parts[1].sum() == parts[3].sum() == 0

    shares = contribution_shares(session)
    positive = np.maximum(values, 0)
    assert shares["curve"] == pytest.approx((positive * p_curve).sum() / positive.sum(), abs=0.03)
    assert shares["not labelled"] == pytest.approx((positive * unknown).sum() / positive.sum(), abs=0.03)
    assert sum(shares.values()) == pytest.approx(1.0)

    folder_out = tmp_path / "figs"
    figures = plot_label_figures(session, folder_out)
    assert set(figures) == {"fractions", "density", "contribution"}
    summary = json.loads((folder_out / f"unit_{UNIT:04d}_labels.json").read_text())
    assert summary["contribution_shares"] == pytest.approx(shares)
    assert np.array_equal(summary["answers_per_stratum"], session.counts())
    assert main(["label", str(result), "--figures"]) == 0
    assert "curve=" in capsys.readouterr().out
    assert sorted(p.name for p in (result / "labels" / "figures").iterdir()) == sorted(
        [f"unit_{UNIT:04d}_{n}.png" for n in figures] + [f"unit_{UNIT:04d}_labels.json"])


def test_cli_errors_are_one_line(result, capsys):
    assert main(["label", str(result)]) == 2  # several units and no session yet
    assert main(["label", str(result), "--neuron", "mixed3b:1"]) == 2
    assert main(["label", str(result), "--neuron", "1", "--figures"]) == 2  # no answers yet
    assert main(["label", str(result), "--neuron", "1", "--categories", "a,a"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("error: ") for line in errors)
