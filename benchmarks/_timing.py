"""Timing helpers shared by the benchmarks: best-of-n wall time after a warm-up."""

from __future__ import annotations

import time


def best_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
