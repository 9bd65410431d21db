"""The command line: output formats and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "neuronscope", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["predict", "efficientnet_lite0", "missing.jpg"], "no such file"),
    (["predict", "no_such_model"], "unknown model"),
    (["info", "efficientnet_lite0", "--size", "abc"], "expected a whole number"),
    (["eval", "efficientnet_lite0", "--images", ".", "--labels", "missing.csv", "--label-column", "x"],
     "argument --labels: no such file"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2(args, message):
    out = run(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("error:") and message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_bad_csv_column(tmp_path):
    (tmp_path / "l.csv").write_text("file,label\na.jpg,1\n")
    out = run("eval", "efficientnet_lite0", "--images", str(tmp_path), "--labels", str(tmp_path / "l.csv"),
              "--label-column", "index_1000")
    assert out.returncode == 2 and "no column 'index_1000'" in out.stderr


def test_predict_names_the_right_classes(shared):
    sample = shared / "data" / "imagenet-sample"
    out = run("predict", "efficientnet_lite0", str(sample / "n01440764.jpg"), str(sample / "n01443537.jpg"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].split(": ")[1].startswith("tench") and lines[1].split(": ")[1].startswith("goldfish")


def test_info_lists_layers_and_fields():
    out = run("info", "efficientnet_lite0")
    assert out.returncode == 0
    row = next(line for line in out.stdout.splitlines() if line.startswith("block6_expand "))
    assert "(480, 14, 14)" in row and "relu6" in row
