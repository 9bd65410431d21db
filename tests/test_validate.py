"""Argument types (`neuronscope.cli.validate`) and the CLI's last-resort handler."""

from __future__ import annotations

import argparse
import math
import os

import pytest
import torch

from neuronscope.cli import main, one_line
from neuronscope.cli import validate as v


@pytest.mark.parametrize("func, text, expected", [
    (v.positive_int, "3", 3), (v.positive_int, " 7 ", 7), (v.nonnegative_int, "0", 0),
    (v.image_size, "32", 32), (v.image_size, "4096", 4096), (v.tile_size, "64", 64),
    (v.finite_float, "-2.5", -2.5), (v.positive_float, "1e-3", 1e-3), (v.probability, "1", 1.0),
    (v.port, "0", 0), (v.port, "65535", 65535), (v.seed, "0", 0),
    (v.position, "3,4", (3, 4)), (v.int_list(0), "3,17", [3, 17]),
    (v.float_list(allow_inf=True), "16,-2.5,inf", [16.0, -2.5, math.inf]),
    (v.device, "cpu", "cpu"),
])
def test_accepts(func, text, expected):
    assert func(text) == expected


@pytest.mark.parametrize("func, text, message", [
    (v.positive_int, "0", "must be a whole number >= 1, got 0"), (v.positive_int, "-3", ">= 1"),
    (v.positive_int, "2.5", "expected a whole number"), (v.positive_int, "abc", "expected a whole number"),
    (v.nonnegative_int, "-1", ">= 0"),
    (v.image_size, "0", "in [32, 4096]"), (v.image_size, "1", "in [32, 4096]"), (v.image_size, "100000", "4096"),
    (v.tile_size, "0", "in [8, 1024]"),
    (v.finite_float, "nan", "finite"), (v.finite_float, "inf", "finite"), (v.positive_float, "0", "> 0"),
    (v.positive_float, "-1", "> 0"), (v.nonnegative_float, "-0.1", ">= 0"), (v.probability, "1.5", "in [0, 1]"),
    (v.port, "99999", "in [0, 65535]"), (v.port, "-1", "TCP port"), (v.seed, "-1", "seed"),
    (v.position, "-1,3", "Y,X"), (v.position, "3", "expected 2"), (v.position, "a,b", "Y,X"),
    (v.int_list(0), "1,,2", "comma-separated"), (v.int_list(0, unique=True), "1,1", "repeat"),
    (v.float_list(), "a,b", "expected a number"), (v.float_list(), "1,inf", "finite"),
    (v.device, "foo", "unknown device"), (v.device, "tpu", "unknown device"),
    (v.existing_file, "/no/such/file", "no such file"), (v.existing_dir, "/no/such/dir", "no such folder"),
    (v.existing_path, "/no/such/path", "no such file or folder"), (v.existing_file, "", "empty"),
    (v.existing_file, "bad\udcffname", "not valid UTF-8"),
])
def test_refuses_with_a_reason(func, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=None) as info:
        func(text)
    assert message in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_refused_without_cuda():
    with pytest.raises(argparse.ArgumentTypeError, match="CUDA is not available"):
        v.device("cuda")


def test_paths(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert v.existing_file(str(f)) == f and v.existing_dir(str(tmp_path)) == tmp_path
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder"):
        v.existing_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="is a file"):
        v.existing_dir(str(f))
    assert v.out_dir(str(tmp_path / "new" / "deeper")) == tmp_path / "new" / "deeper"
    with pytest.raises(argparse.ArgumentTypeError, match="exists and is not a folder"):
        v.out_dir(str(f))
    with pytest.raises(argparse.ArgumentTypeError, match="is a file"):
        v.out_dir(str(f / "sub"))
    png = v.out_file(".png", ".pdf")
    assert png(str(tmp_path / "q.PNG")) == tmp_path / "q.PNG"
    with pytest.raises(argparse.ArgumentTypeError, match="must end in .png, .pdf"):
        png(str(tmp_path / "q.xyz"))
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder"):
        png(str(tmp_path))
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(argparse.ArgumentTypeError, match="not writable"):
            v.out_dir(str(locked / "out"))


def test_one_line_drops_torch_unsafe_advice():
    text = ("Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` argument "
            "in `torch.load` from `False` to `True`. Re-running `torch.load` with `weights_only` set to `False` "
            "will likely succeed, but it can result in arbitrary code execution. Do it only if you got the file "
            "from a trusted source.\nPlease file an issue with the following so that we can make "
            "`weights_only=True` compatible with your use case: WeightsUnpickler error: \n\nUnsupported operand "
            "149\n\nCheck the documentation of torch.load to learn more about types accepted by default with "
            "weights_only https://pytorch.org/docs/stable/generated/torch.load.html.")
    assert one_line(text) == "WeightsUnpickler error: Unsupported operand 149"
    assert one_line("two\n  lines") == "two lines"


def test_negative_numbers_are_values(capsys):
    """`--position -1,3` reaches the option's type (and is refused for its range), not argparse's
    "expected one argument"."""
    code = main(["family", "efficientnet_lite0", "--json", "x.json", "--position", "-1,3"])
    err = capsys.readouterr().err
    assert code == 2 and "argument --position" in err and "Y,X" in err and "expected one argument" not in err


def test_unexpected_exception_is_one_line_and_a_log(tmp_path, monkeypatch, capsys):
    from neuronscope.cli.commands import models

    def boom(args):
        raise ZeroDivisionError("division by zero\nsecond line")

    monkeypatch.setenv("NEURONSCOPE_LOG_DIR", str(tmp_path))
    monkeypatch.setattr(models, "run", boom)
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: unexpected ZeroDivisionError: division by zero second line")
    log = next(tmp_path.glob("neuronscope-error-*.log"))
    assert str(log) in err
    text = log.read_text()
    assert "Traceback" in text and "boom" in text and "ZeroDivisionError" in text


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "COMMAND" in capsys.readouterr().out


def test_settings_options_set_their_fields():
    """Options added by `add_field_args` default to the dataclass's values and set the right fields,
    including one whose field is not named after its flag (--tolerance: Motif.tolerance_deg)."""
    from neuronscope.aann import Motif
    from neuronscope.atlas import Settings
    from neuronscope.cli import build_parser
    from neuronscope.cli.commands.atlas import SETTINGS_ARGS
    from neuronscope.cli.options import MOTIF_ARGS, aann_options, field_values

    parser = build_parser()
    base = ["atlas", "efficientnet_lite0", "--layers", "block6_expand", "--out", "site"]
    assert Settings(**field_values(parser.parse_args(base), SETTINGS_ARGS)) == Settings()
    args = parser.parse_args(base + ["--image-size", "100", "--shard-images", "7", "--seed", "5", "--steps", "9"])
    got = Settings(**field_values(args, SETTINGS_ARGS))
    assert (got.image_size, got.shard_images, got.seed, got.steps, got.resize) == (100, 7, 5, 9, Settings().resize)
    args = parser.parse_args(["aann", "efficientnet_lite0", "--out", "o", "--tolerance", "45", "--off-curve", "0.3"])
    assert set(field_values(args, MOTIF_ARGS)) == {"radius", "tolerance_deg", "width", "misaligned", "off_curve"}
    assert aann_options(args)["motif"] == Motif(tolerance_deg=45.0, off_curve=0.3)
