"""`neuronscope stats`, `stats-merge` and `quilt` (with attribution) on EfficientNet-Lite0 and a few ImageNet images."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

import neuronscope as ns
from neuronscope.cli import main
from neuronscope.dataset import load_stats
from tests.test_dataset import one_thread  # noqa: F401 - a fixture

LINE = re.compile(r"^images=(\d+) skipped=(\d+) positions=(\d+) seconds=(\d+\.\d)$")


def _last_line(capsys) -> re.Match:
    last = capsys.readouterr().out.strip().splitlines()[-1]
    match = LINE.match(last)
    assert match, last
    return match


def test_stats_shards_merge_and_quilt_on_efficientnet(shared, tmp_path, capsys):
    sample = shared / "data" / "imagenet-sample"
    common = ["--images", str(sample / "labels.csv"), "--limit", "4", "--batch-size", "2", "--figures", "7",
              "--no-progress", "--device", "cpu"]
    for shard in ("1/2", "2/2"):
        assert main(["stats", "efficientnet_lite0", "block6_expand", "--out", str(tmp_path / shard[0]),
                     "--shard", shard, *common]) == 0
        assert _last_line(capsys).groups()[:3] == ("2", "0", str(2 * 14 * 14))
    assert main(["stats-merge", str(tmp_path / "1"), str(tmp_path / "2"), "--out", str(tmp_path / "all"),
                 "--figures", "none"]) == 0
    assert _last_line(capsys).groups()[:3] == ("4", "0", str(4 * 14 * 14))

    stats = load_stats(tmp_path / "all")
    model = ns.load_model("efficientnet_lite0")
    best = stats.top(7)[0]
    assert Path(best.image_id).resolve().parent == sample.resolve()
    pixels = ns.images.standard_view(best.image_id)[None]
    with torch.no_grad():
        act = model.capture(pixels, ["block6_expand"], pre_relu=True)["block6_expand"]
    assert act[0, 7, best.y, best.x].item() == pytest.approx(best.value, rel=1e-4, abs=1e-4)
    assert act[0, 7].max().item() == pytest.approx(best.value, rel=1e-4, abs=1e-4)
    assert stats.units == 480 and stats.manifest["model"] == "efficientnet_lite0"
    assert np.all(stats.std > 0)

    assert main(["quilt", str(tmp_path / "all"), "block6_expand:7", "--out", str(tmp_path / "q.png")]) == 0
    assert (tmp_path / "q.png").stat().st_size > 1000
    assert main(["quilt", str(tmp_path / "all"), "7", "--out", str(tmp_path / "qa.png"), "--attribution",
                 "--per-row", "1"]) == 0
    assert (tmp_path / "qa.png").stat().st_size > 1000
    assert (tmp_path / "1" / "figures" / "unit_0007.png").is_file()
    assert main(["quilt", str(tmp_path / "all"), "mixed3b:7", "--out", str(tmp_path / "q.png")]) == 2
    assert capsys.readouterr().err.startswith("error: ")

