"""Errors that the CLI reports as one line (`error: ...`, exit code 2) instead of a traceback."""

import re


class NeuronscopeError(Exception):
    """Bad input or an unmet precondition the user can fix (unknown name, missing file, ...)."""


class WeightsError(NeuronscopeError):
    """Model weights are missing, corrupt, or could not be downloaded."""


# torch's text when a weights-only load fails tells the user to load with weights_only=False,
# which runs any code a pickle holds: never pass that advice on.
_UNSAFE_ADVICE = re.compile(r"weights_only|weights only|trusted source|file an issue|arbitrary code", re.IGNORECASE)


def plain(message) -> str:
    """A message as one line, without torch's advice to disable safe loading: sentences that
    mention it are dropped and whitespace runs (newlines too) become single spaces."""
    sentences = re.split(r"(?<=[.!?:])\s+|\n+", str(message))
    kept = [s for s in sentences if not _UNSAFE_ADVICE.search(s)]
    return " ".join(" ".join(kept).split())
