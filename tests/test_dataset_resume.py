"""A run killed with SIGKILL and resumed gives exactly the uninterrupted result."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
from PIL import Image

from neuronscope.dataset import load_stats

# The same seeded tiny model in every process; each batch of 3 images takes 50 ms so the kill
# lands mid-run, and every forward pass is logged so the test can see that resuming skipped work.
SCRIPT = textwrap.dedent(
    """
    import sys, time, torch
    from torch import nn
    import neuronscope as ns
    from neuronscope.dataset import compute_stats

    images, out, log = sys.argv[1:4]

    class Slow(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
            self.head = nn.Linear(4, 2)

        def forward(self, x):
            if x.shape[0] > 1:
                with open(log, "a") as f:
                    f.write("forward\\n")
                time.sleep(0.05)
            return self.head(self.conv(x).mean((2, 3)))

    torch.manual_seed(0)
    model = ns.wrap(Slow(), layers=["conv"], name="slow")
    compute_stats(model, "conv", images, out, resize=16, size=16, batch_size=3, workers=1, resume=True,
                  checkpoint_every=0, figures="none", progress=False, per_stratum=4)
    """
)


def _start(tmp_path, out, log):
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "images"), str(out), str(log)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc):
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]


def test_killed_run_resumes_to_the_identical_result(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    for i in range(60):  # 20 chunks of 3
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{i:03d}.png")

    reference = _start(tmp_path, tmp_path / "reference", tmp_path / "reference.log")
    victim = _start(tmp_path, tmp_path / "resumed", tmp_path / "first.log")
    manifest = tmp_path / "resumed" / "manifest.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if manifest.is_file() and json.loads(manifest.read_text())["chunks"][0][1] >= 3:
            break
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert victim.returncode == -signal.SIGKILL
    checkpoint = load_stats(tmp_path / "resumed")
    assert not checkpoint.complete and 0 < checkpoint.images < 60

    second = _start(tmp_path, tmp_path / "resumed", tmp_path / "second.log")
    _finish(reference)
    _finish(second)

    expected, resumed = load_stats(tmp_path / "reference"), load_stats(tmp_path / "resumed")
    assert resumed.complete and resumed.images == 60
    for name, value in expected.arrays.items():
        assert np.array_equal(value, resumed.arrays[name], equal_nan=value.dtype.kind == "f"), name
    for key in ("images", "positions", "skipped", "chunks"):
        assert resumed.manifest[key] == expected.manifest[key]
    full = len((tmp_path / "reference.log").read_text().splitlines())
    assert len((tmp_path / "second.log").read_text().splitlines()) < full  # it continued, not restarted
