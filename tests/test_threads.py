"""The thread policy: thread count from the free cores, set once; OpenMP threads that sleep."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch

from neuronscope.cli import main
from neuronscope.errors import NeuronscopeError
from neuronscope.threads import choose_threads, free_cores, set_threads


@pytest.mark.parametrize("load, cores, free", [(0.0, 2, 2), (0.4, 2, 2), (0.6, 2, 1), (1.6, 2, 1), (7.5, 2, 1),
                                               (2.2, 8, 6), (0.0, 1, 1)])
def test_free_cores_subtracts_the_load(load, cores, free):
    assert free_cores(load=load, cores=cores) == free


def test_choose_threads_honours_a_request_and_refuses_zero():
    assert choose_threads(3) == 3
    assert 1 <= choose_threads(None) <= os.cpu_count()
    with pytest.raises(NeuronscopeError, match="at least 1"):
        choose_threads(0)


def test_threads_option_sets_torch_threads_once(capsys):
    before = torch.get_num_threads()
    try:
        set_threads(2)
        assert main(["info", "efficientnet_lite0", "--size", "32", "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        assert "block6_expand" in capsys.readouterr().out
    finally:
        torch.set_num_threads(before)


def test_openmp_threads_do_not_spin():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", "import os, neuronscope; print(os.environ['OMP_WAIT_POLICY'])"],
                         capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "PASSIVE"


_FAULTS = """
import resource, torch, neuronscope as ns
torch.set_num_threads(1)
model = ns.load_model("efficientnet_lite0")
x = torch.rand(32, 3, 96, 96)
for i in range(4):
    if i == 2:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.capture(x, ["block6_expand"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_forward_passes_reuse_freed_memory():
    """Two warm forward passes must not fault their activations' pages in again (measured: 0 to
    7,000 faults); glibc's own default, kept when the environment sets its threshold, faults
    about 255,000 pages (1 GB handed back to the kernel and zeroed again)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def faults(extra):
        out = subprocess.run([sys.executable, "-c", _FAULTS], env={**env, **extra}, capture_output=True,
                             text=True, check=True)
        return int(out.stdout.split()[-1])

    assert faults({}) < 25_000
    assert faults({"MALLOC_MMAP_THRESHOLD_": "131072"}) > 100_000
