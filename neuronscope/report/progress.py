"""Progress that stays readable in a log: when stderr is not a terminal, progress bars redrawn
with carriage returns become a line every few seconds (and one at the end)."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import time

EVERY_S = 5.0


class LineBars(io.TextIOBase):
    """A text stream that writes each redrawn bar state as a line, at most one per `every` seconds
    (and always the finished state); other text passes through."""

    def __init__(self, target, every: float = EVERY_S):
        self.target, self.every, self.last = target, every, 0.0
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for part in re.split(r"(\r|\n)", text):
            if part in ("\r", "\n"):
                self._emit(part == "\n")
            else:
                self.pending += part
        return len(text)

    def _emit(self, newline: bool) -> None:
        line, self.pending = self.pending.rstrip(), ""
        if not line.strip():
            return
        bar = "%|" in line or "it/s" in line or "s/it" in line
        line = line.strip() if bar else line
        now = time.monotonic()
        if not bar or newline or now - self.last >= self.every or "100%" in line:
            self.target.write(line + "\n")
            self.target.flush()
            self.last = now

    def flush(self) -> None:
        self.target.flush()


@contextlib.contextmanager
def readable_bars(enabled: bool = True):
    """Within the block, stderr writes bars as lines when it is not a terminal."""
    if not enabled or sys.stderr.isatty():
        yield
        return
    original = sys.stderr
    sys.stderr = lines = LineBars(original)
    try:
        yield
    finally:
        lines._emit(True)
        sys.stderr = original
