"""Errors that the CLI reports as one line (`error: ...`, exit code 2) instead of a traceback."""


class NeuronscopeError(Exception):
    """Bad input or an unmet precondition the user can fix (unknown name, missing file, ...)."""


class WeightsError(NeuronscopeError):
    """Model weights are missing, corrupt, or could not be downloaded."""
