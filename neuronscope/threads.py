"""The thread policy: how many CPU threads torch uses, chosen once per command.

On a machine shared with other jobs, torch's default (one thread per core) makes every parallel
op wait for descheduled threads: measured 2-4x slower than one thread under load. So:
- `choose_threads()` takes the cores this process may run on, minus those busy with other work
  (the 1-minute load average), at least 1; `--threads N` (every command with a model) overrides it.
- OpenMP threads sleep instead of spinning between parallel regions (OMP_WAIT_POLICY=PASSIVE,
  set here before torch starts OpenMP, unless the environment already sets it), so idle threads
  do not steal the cores other threads or jobs need.
- The count is set once, process-wide, by `set_threads`; nothing flips it per chunk or per op.
- Freed memory stays with the process (glibc only, on import, unless the environment sets
  MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_): by default glibc hands every tensor over
  128 KiB back to the kernel when it is freed, so the next forward pass faults every page in again
  and zeroes it; measured on EfficientNet-Lite0, that kernel time was 3x the arithmetic (the main
  job spent 88 s in the kernel for 114 s of user time). See `keep_freed_memory`.
"""

from __future__ import annotations

import ctypes
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when OpenMP starts: before torch is imported

import torch

from neuronscope.errors import NeuronscopeError

_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)


def keep_freed_memory() -> bool:
    """Make glibc's malloc serve large blocks from its heap and never trim it (the process keeps
    its peak memory, which it will need again at the next batch). Returns whether it applied:
    False off glibc or when the environment already sets glibc's own thresholds."""
    if any(k in os.environ for k in _MALLOC_ENV):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    largest = ctypes.c_int(2**31 - 1)
    return bool(mallopt(_M_MMAP_THRESHOLD, largest)) and bool(mallopt(_M_TRIM_THRESHOLD, largest))


keep_freed_memory()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores(load: float | None = None, cores: int | None = None) -> int:
    """Usable cores not busy with other work: cores - load (rounded), between 1 and cores.
    `load` defaults to the 1-minute load average (taken as 0 where the OS has none)."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def choose_threads(requested: int | None = None) -> int:
    """`requested` if given (>= 1), else the free cores."""
    if requested is None:
        return free_cores()
    if int(requested) < 1:
        raise NeuronscopeError(f"threads must be at least 1, got {requested}")
    return int(requested)


def set_threads(requested: int | None = None) -> int:
    """Set torch's CPU thread count once for this process (see `choose_threads`); returns it."""
    n = choose_threads(requested)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
