"""Every command, fed bad input, answers with exactly one `error:` line and exit code 2: never a
traceback, never a silently accepted odd value. Commands run in-process (`neuronscope.cli.main`);
most cases are refused while the arguments are read, before any model is loaded."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.cli import build_parser, main

# "{name}" is replaced by the fixture path of that name (see `places`).
E = "efficientnet_lite0"
CASES = {
    "info": [
        ([E, "--size", "0"], "--size"), ([E, "--size", "-5"], "--size"), ([E, "--size", "1"], "--size"),
        ([E, "--size", "100000"], "--size"), ([E, "--size", "abc"], "--size"), ([E, "--device", "foo"], "device"),
        ([E, "--device", "cuda:99"], "--device"), ([E, "--weights", "{missing}"], "--weights"),
        ([E, "--weights", "{dir}"], "--weights"), ([E, "--weights", "{text}"], "not a readable weight file"),
        (["no_such_model"], "unknown model"), ([E, "--sha256", "abc"], "--sha256"),
        (["{missing}.py:build"], "no such file"), (["{text}:build"], "not a Python file"),
        (["no_such_package_xyz.mod:build"], "cannot import"),
    ],
    "universality": [
        ([E, "--out", "{text}"], "--out"), ([E, "--out", "{out}", "--step", "0"], "--step"),
        ([E, "--out", "{out}", "--strides", "x"], "--strides"), ([E, "--out", "{out}", "--seed", "-1"], "--seed"),
        (["no_such_model", "--out", "{out}"], "unknown model"), ([E, "--out", "{out}", "--limit", "0"], "--limit"),
    ],
    "models": [(["extra"], "unrecognized")],
    "featvis": [
        ([E, "block6_expand:0", "--out", "{out}", "--size", "1"], "--size"),
        ([E, "block6_expand:0", "--out", "{out}", "--steps", "0"], "--steps"),
        ([E, "block6_expand:0", "--out", "{out}", "--lr", "nan"], "--lr"),
        ([E, "block6_expand:0", "--out", "{out}", "--lr", "-1"], "--lr"),
        ([E, "block6_expand:0", "--out", "{out}", "--diversity", "-1"], "--diversity"),
        ([E, "block6_expand:0", "--out", "{out}", "--seed", "-1"], "--seed"),
        ([E, "block6_expand:0", "--out", "{out}", "--save-every", "0"], "--save-every"),
        ([E, "block6_expand:0", "--out", "{text}"], "--out"),
        ([E, "block6_expand:99999", "--out", "{out}", "--steps", "1"], "units"),
        ([E, "nolayer:0", "--out", "{out}", "--steps", "1"], "layer"),
    ],
    "stimuli": [
        (["curves", "--out", "{out}", "--size", "0"], "--size"),
        (["curves", "--out", "{out}", "--size", "100000"], "--size"),
        (["curves", "--out", "{out}", "--orientations", "0"], "--orientations"),
        (["curves", "--out", "{out}", "--radii", "a,b"], "--radii"),
        (["curves", "--out", "{out}", "--radii", "0,16"], "--radii"),
        (["morphs", "--out", "{out}", "--roundness", "2"], "--roundness"),
        (["lines", "--out", "{out}", "--stroke-width", "-1"], "--stroke-width"),
        (["curves", "--out", "{out}", "--openings", "90"], "does not apply"),
        (["curves", "--out", "{text}"], "--out"), (["spirals", "--out", "{out}"], "invalid choice"),
        (["lines", "--out", "{out}", "--offsets", "-3,nan"], "--offsets"),
    ],
    "stats": [
        ([E, "block6_expand", "--out", "{out}", "--size", "0"], "--size"),
        ([E, "block6_expand", "--out", "{out}", "--batch-size", "0"], "--batch-size"),
        ([E, "block6_expand", "--out", "{out}", "--batch-size", "-1"], "--batch-size"),
        ([E, "block6_expand", "--out", "{out}", "--workers", "-1"], "--workers"),
        ([E, "block6_expand", "--out", "{out}", "--limit", "0"], "--limit"),
        ([E, "block6_expand", "--out", "{out}", "--crop", "--position", "-1,3"], "--position"),
        ([E, "block6_expand", "--out", "{out}", "--strata", "0"], "--strata"),
        ([E, "block6_expand", "--out", "{out}", "--strata", "7"], "strata (7) must divide"),
        ([E, "block6_expand", "--out", "{out}", "--resize", "100"], "resize (100) must be at least"),
        ([E, "block6_expand", "--out", "{out}", "--checkpoint-every", "-1"], "--checkpoint-every"),
        ([E, "block6_expand", "--out", "{text}"], "--out"),
        ([E, "block6_expand", "--out", "{out}", "--images", "{missing}"], "--images"),
        ([E, "block6_expand", "--out", "{out}", "--images", "{latin1_list}"], "UTF-8"),
        ([E, "block6_expand", "--out", "{out}", "--shard", "0/2"], "shard"),
        ([E, "block6_expand", "--out", "{out}", "--shard", "a"], "shard"),
        ([E, "block6_expand", "--out", "{out}", "--images", "{images}", "--shard", "5/8"], "no images"),
        ([E, "block6_expand", "--out", "{out}", "--figures", "x"], "--figures"),
        ([E, "block6_expand", "--out", "{out}", "--figures", "99999", "--images", "{images}"],
         "figures: unit 99999 is out of range"),
        ([E, "nolayer", "--out", "{out}"], "layer"),
        ([E, "block6_expand", "--out", "{result}", "--images", "{images}"], "--resume to continue it or --overwrite"),
    ],
    "stats-merge": [
        (["{missing}", "--out", "{out}"], "no such folder"), (["{dir}", "--out", "{out}"], "no dataset statistics"),
        (["{result}", "--out", "{text}"], "--out"), (["{result}", "--out", "{out}", "--figures", "x"], "--figures"),
        (["{result}", "--out", "{result}"], "already holds a result (manifest.json, stats.npz, summary.csv); use "
                                            "--overwrite to replace it"),
    ],
    "decompose": [
        ([E, "block6_expand:0", "--out", "{out}", "--input-size", "100000"], "--input-size"),
        ([E, "block6_expand:0", "--out", "{out}", "--size", "0"], "--size"),
        ([E, "block6_expand:0", "--out", "{out}", "--min-norm", "2"], "--min-norm"),
        ([E, "block6_expand:0", "--out", "{out}", "--steps", "-3"], "--steps"),
    ],
    "eval": [
        ([E, "--images", "{dir}", "--labels", "{labels}", "--label-column", "y", "--batch-size", "0"], "--batch-size"),
        ([E, "--images", "{dir}", "--labels", "{dir}", "--label-column", "y"], "--labels"),
        ([E, "--images", "{missing}", "--labels", "{labels}", "--label-column", "y"], "--images"),
        ([E, "--images", "{images}", "--labels", "{labels_5000}", "--label-column", "y"], "5000"),
        ([E, "--images", "{images}", "--labels", "{labels_neg}", "--label-column", "y"], "-1"),
        ([E, "--images", "{images}", "--labels", "{labels}", "--label-column", "nope"], "no column"),
        ([E, "--images", "{images}", "--labels", "{latin1_list}", "--label-column", "y"], "UTF-8"),
        ([E, "--images", "{images}", "--labels", "{labels_missing_image}", "--label-column", "y"], "no such image"),
    ],
    "surgery": [
        ([E, "--images", "{images}", "--labels", "{labels}", "--label-column", "y", "--out", "{out}", "--limit", "0"],
         "--limit"),
        ([E, "--images", "{images}", "--labels", "{labels}", "--label-column", "y", "--out", "{out}", "--batch-size",
          "-2"], "--batch-size"),
        ([E, "--images", "{images}", "--labels", "{labels}", "--label-column", "y", "--out", "{out}", "--seeds", "a"],
         "--seeds"),
        ([E, "--images", "{images}", "--labels", "{labels}", "--label-column", "y", "--out", "{out}", "--boot", "0"],
         "--boot"),
        ([E, "--images", "{images}", "--labels", "{labels}", "--label-column", "y", "--out", "{out}", "--radius",
          "inf"], "--radius"),
    ],
    "quilt": [
        (["{result}", "1", "--out", "{out}/q.png", "--per-row", "0"], "--per-row"),
        (["{result}", "1", "--out", "{out}/q.png", "--thumb", "0"], "--thumb"),
        (["{result}", "1", "--out", "{out}/q.xyz"], "--out"),
        (["{missing}", "1", "--out", "{out}/q.png"], "no such folder"),
        (["{result}", "9999", "--out", "{out}/q.png"], "out of range"),
        (["{result}", "-1", "--out", "{out}/q.png"], "neuron"),
        (["{result}", "1", "--out", "{dir}"], "--out"),
        (["{dir}", "1", "--out", "{out}/q.png"], "no dataset statistics"),
        (["{result}", "1", "--out", "{out}/q.png", "--attribution", "--device", "foo"], "device"),
    ],
    "label": [
        (["{result}", "--port", "99999"], "--port"), (["{result}", "--port", "-1"], "--port"),
        (["{result}", "--host", "0.0.0.0"], "--host"),
        (["{missing}"], "no such folder"), (["{result}", "--seed", "-1"], "--seed"),
        (["{result}", "--neuron", "99999", "--figures"], "out of range"),
        (["{text_stats}", "--figures"], "unreadable"),
    ],
    "weights": [
        ([E, "block6_expand:0", "--from", "block5_expand", "--out", "{out}", "--top", "0"], "--top"),
        ([E, "block6_expand:0", "--from", "block5_expand", "--out", "{out}", "--families", "{missing}"], "--families"),
        ([E, "block6_expand:0", "--from", "block5_expand", "--out", "{text}"], "--out"),
    ],
    "circuit": [
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--shuffles", "0"], "--shuffles"),
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--bin-deg", "0"], "--bin-deg"),
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--sectors", "0"], "--sectors"),
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--source-family", "9999:0",
          "--target-family", "1:0,2:90"], "9999"),
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--source-family", "a:b"],
         "family"),
    ],
    "edit-echo": [
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--radii", "0"], "--radii"),
        ([E, "--from", "block5_expand", "--to", "block6_expand", "--out", "{out}", "--scale", "nan"], "--scale"),
    ],
    "aann": [
        ([E, "--out", "{out}", "--orientations", "a,b"], "--orientations"),
        ([E, "--out", "{out}", "--radius", "0"], "--radius"),
        ([E, "--out", "{out}", "--featvis-steps", "-1"], "--featvis-steps"),
        ([E, "--out", "{out}", "--tolerance", "nan"], "--tolerance"),
    ],
    "tune": [
        ([E, "block6_expand:0", "--out", "{out}", "--step", "0"], "--step"),
        ([E, "block6_expand:0", "--out", "{out}", "--radii", "1"], "--radii"),
        ([E, "block6_expand:0", "--out", "{out}", "--experiments", "foo"], "unknown experiment"),
        ([E, "block6_expand:0", "--out", "{out}", "--limit", "0"], "--limit"),
    ],
    "family": [
        ([E, "--json", "{out}/f.json", "--position", "-1,3"], "--position"),
        ([E, "--json", "{out}/f.json", "--step", "0"], "--step"),
        ([E, "--json", "{dir}"], "--json"),
        ([E, "--json", "{out}/f.json", "--stats", "{missing}"], "--stats"),
    ],
    "report": [
        (["--out", "{out}", "--steps", "0"], "--steps"), (["--out", "{text}"], "--out"),
        (["--out", "{out}", "--images", "{missing}"], "--images"),
        (["--out", "{out}", "--joint-examples", "0"], "--joint-examples"),
        (["--out", "{out}", "--labels", "{missing}", "--label-column", "y"], "--labels"),
        (["--out", "{out}", "--labels", "{text}"], "--label-column"),
        (["--out", "{out}", "--labels", "{text}", "--label-column", "y"], "--images"),
        (["--out", "{out}", "--images", "{images}", "--labels", "{text}", "--label-column", "y"], "no column 'file'"),
    ],
    "atlas": [
        ([E, "--layers", "block6_expand", "--out", "{out}", "--steps", "0"], "--steps"),
        ([E, "--layers", "block6_expand", "--out", "{out}", "--size", "100000"], "--size"),
        ([E, "--layers", "block6_expand", "--out", "{text}"], "--out"),
        ([E, "--layers", "nolayer", "--out", "{out}"], "nolayer"),
        ([E, "--layers", "block6_expand", "--out", "{out}", "--units", "x"], "units"),
        ([E, "--layers", "block6_expand", "--out", "{out}", "--units", "99999"], "99999"),
        ([E, "--layers", "block6_expand", "--out", "{out}", "--diversity", "1"], "diversity"),
    ],
    "trace": [
        ([E, "{missing}", "--out", "{out}"], "no such file"), ([E, "{text}", "--out", "{out}"], "cannot read image"),
        ([E, "{images}/0.png", "--out", "{out}", "--curves", "0"], "--curves"),
        ([E, "{images}/0.png", "--out", "{out}", "--points", "1"], "--points"),
        ([E, "{images}/0.png", "--out", "{out}", "--occlude", "{missing}"], "--occlude"),
        ([E, "{images}/0.png", "--out", "{text}"], "--out"),
        ([E, "{images}/0.png", "--out", "{out}"], "at least 64"),
        ([E, "{images}/0.png", "--out", "{out}", "--steps", "-1"], "--steps"),
        ([E, "{dot}", "--out", "{out}"], "1x1 pixels"),
    ],
    "factorize": [
        ([E, "block6_expand", "{images}", "--out", "{out}", "--k", "0"], "--k"),
        ([E, "block6_expand", "{missing}", "--out", "{out}"], "no such image"),
        ([E, "block6_expand", "{dir}", "--out", "{out}"], "no images found"),
        ([E, "block6_expand", "{images}", "--out", "{out}", "--save-groups", "{dir}"], "--save-groups"),
        ([E, "block5", "{images}", "--out", "{out}", "--size", "32"], "negative values"),
        ([E, "block6_expand", "{images}", "--out", "{out}", "--k", "100000", "--size", "32"], "k must be"),
        ([E, "nolayer", "{images}", "--out", "{out}", "--size", "32"], "nolayer"),
        ([E, "block6_expand", "{images}", "--out", "{out}", "--save-groups", "{out}/g.txt"], "--save-groups"),
        ([E, "block6_expand", "{images}", "--out", "{out}", "--size", "0"], "--size"),
    ],
    "find": [
        ([E, "--groups", "{missing}", "{images}", "--out", "{out}"], "--groups"),
        ([E, "--groups", "{text}", "{images}", "--out", "{out}"], "cannot read groups file"),
        ([E, "--groups", "{text}", "{images}", "--out", "{out}", "--trace"], "--trace needs --group"),
        ([E, "--groups", "{text}", "{images}", "--out", "{out}", "--curves", "0"], "--curves"),
        ([E, "--groups", "{text}", "{images}", "--out", "{out}", "--size", "100000"], "--size"),
    ],
    "combing": [
        ([E, "--out", "{text}"], "--out"), ([E, "--out", "{out}", "--featvis-steps", "-1"], "--featvis-steps"),
        ([E, "nolayer", "--out", "{out}"], "nolayer"), ([E, "--out", "{out}", "--kinds", "blob"], "invalid choice"),
    ],
    "extract": [
        ([E, "{missing}", "--out", "{out}"], "no such file"),
        ([E, "{images}/0.png", "--out", "{out}", "--units", "-1"], "--units"),
        ([E, "{big}", "--out", "{out}", "--units", "99999"], "99999"),
        ([E, "{images}/0.png", "--out", "{out}", "--method", "x"], "invalid choice"),
        ([E, "{text}", "--out", "{out}", "--units", "1"], "cannot read image"),
        ([E, "{big}", "--out", "{out}", "--layer", "nolayer", "--units", "1"], "nolayer"),
        ([E, "--out", "{out}"], "at least one IMAGE"), ([E, "{images}/0.png", "--out", "{text}"], "--out"),
        ([E, "{images}/0.png", "--out", "{out}", "--units", "36"], "at least 64"),
        ([E, "{sliver}", "--out", "{out}"], "40x3 pixels"),
    ],
    "extract-bench": [
        ([E, "--out", "{out}", "--images", "1"], "--images"), ([E, "--out", "{out}", "--size", "10"], "--size"),
        ([E, "--out", "{out}", "--tolerance", "nan"], "--tolerance"), ([E, "--out", "{text}"], "--out"),
        ([E, "--out", "{out}", "--tolerance", "0"], "--tolerance"),
        ([E, "--out", "{out}", "--images", "2", "--size", "64", "--layer", "nolayer"], "nolayer"),
        ([E, "--out", "{out}", "--images", "2", "--size", "64", "--units", "99999"], "99999"),
    ],
    "predict": [
        ([E, "{missing}"], "no such file"), ([E, "{dir}"], "folder"), ([E, "{text}"], "cannot read image"),
        ([E, "{bomb}"], "{bomb}"),
        ([E, "{dot}"], "{dot} is 1x1 pixels; images under 8 pixels on a side are refused"),
    ],
}


def test_every_command_has_bad_input_cases():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    assert commands - set(CASES) == set(), "add bad-input cases for these commands"


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    p = {"missing": root / "missing", "dir": root / "dir", "text": root / "file.txt", "out": root / "out",
         "images": root / "images"}
    p["dir"].mkdir()
    p["text"].write_text("not an image, not weights\n")
    p["images"].mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(p["images"] / f"{i}.png")
    Image.fromarray(np.zeros((100, 100, 3), np.uint8)).save(root / "bomb.png")
    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(root / "big.png")
    p["big"] = root / "big.png"
    p["dot"], p["sliver"] = root / "dot.png", root / "sliver.png"  # too small to show a model anything
    Image.fromarray(np.full((1, 1, 3), 200, np.uint8)).save(p["dot"])
    Image.fromarray(np.full((3, 40, 3), 200, np.uint8)).save(p["sliver"])
    p["bomb"] = root / "bomb.png"
    for name, rows in {"labels": [("0.png", 1)], "labels_5000": [("0.png", 5000)], "labels_neg": [("0.png", -1)],
                       "labels_missing_image": [("nope.png", 1)]}.items():
        p[name] = root / f"{name}.csv"
        with open(p[name], "w", newline="") as f:
            csv.writer(f).writerows([("file", "y"), *rows])
    p["latin1_list"] = root / "list.csv"
    p["latin1_list"].write_bytes("file,y\nbild\xe4.png,1\n".encode("latin-1"))
    p["result"] = _result(root / "result", p["images"])
    (root / "text_stats").mkdir()
    (root / "text_stats" / "stats.npz").write_text("this is not a zip file\n")
    p["text_stats"] = root / "text_stats"
    return p


def _result(out, images):
    from neuronscope.dataset import compute_stats
    from tests.test_dataset import Tiny

    import neuronscope as ns

    torch.manual_seed(0)
    model = ns.wrap(Tiny(), layers={"conv1": "relu", "conv2": "relu"}, name="tiny")
    compute_stats(model, "conv2", images, out, resize=32, size=32, batch_size=2, workers=0, figures="none",
                  progress=False, per_stratum=2)
    return out


@pytest.mark.parametrize("command, args, message", [(c, a, m) for c, cases in CASES.items() for a, m in cases],
                         ids=lambda v: " ".join(v) if isinstance(v, list) else str(v)[:20])
def test_bad_input_is_one_error_line_and_exit_2(command, args, message, places, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("NEURONSCOPE_LOG_DIR", str(tmp_path))
    monkeypatch.setenv("TQDM_DISABLE", "1")  # progress bars share stderr
    if "{bomb}" in args:  # bomb.png (100x100) stands for a 20000x20000 image
        monkeypatch.setattr("PIL.Image.MAX_IMAGE_PIXELS", 1000)
    argv = [command, *(a.format(**{k: str(v) for k, v in places.items()}) for a in args)]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "unexpected" not in err and not list(tmp_path.glob("neuronscope-error-*")), err  # no traceback needed
    assert message.format(**{k: str(v) for k, v in places.items()}) in err, err


def test_a_utf8_bom_is_not_part_of_a_csv_column_name(places, tmp_path):
    """Spreadsheet programs start UTF-8 CSVs with a byte-order mark; it used to become part of the
    first column's name ('\\ufefffile'), so the column was "missing"."""
    from neuronscope.dataset import resolve_source
    from neuronscope.evaluate import read_labels

    labels = tmp_path / "bom.csv"
    labels.write_bytes("\ufefffile,y\n0.png,1\n".encode())
    assert read_labels(labels, "y") == [("0.png", 1)]
    listing = tmp_path / "list.csv"
    listing.write_bytes(f"\ufeffsize,path\n9,{places['images'] / '1.png'}\n".encode())
    assert resolve_source(listing).ids == (str(places["images"] / "1.png"),)  # the path column, not the first
