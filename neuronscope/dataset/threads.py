"""Running small CPU work in one thread."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def one_cpu_thread(device):
    """Within this block, torch uses one CPU thread (when `device` is the CPU). Work made of many
    small ops (bookkeeping, a one-image probe) gains little from more, and on a busy machine each
    parallel op can wait for a descheduled thread: measured 3-5x slower with two threads."""
    before = torch.get_num_threads()
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
