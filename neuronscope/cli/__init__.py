"""The `neuronscope` command: a thin layer over the Python API.

Each module in `neuronscope.cli.commands` defines `register(subparsers)`, which adds one
sub-command whose parser sets `func=run`; `run(args)` returns an exit code or None.
Option values are checked where they are read (`neuronscope.cli.validate`); every failure ends
in one line `error: ...` and exit code 2. An exception nobody expected also gives one line, plus
the path of a log file that holds its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import re
import sys
import tempfile
import traceback

from neuronscope.cli import commands
from neuronscope.errors import NeuronscopeError, plain

# Values that start with a minus sign but are numbers or lists of numbers ("-1", "-0.5", "-1,3",
# "-1e-3"), so that `--position -1,3` reads the value (and refuses it by its range) instead of
# failing with "expected one argument".
_NEGATIVE_VALUE = re.compile(r"^-\.?\d[\w.,:+\-]*$|^-inf\b")


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message):  # argparse's own usage errors: one line, exit 2
        sys.stderr.write(f"error: {one_line(message)}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neuronscope", description="Reverse-engineer the neurons and circuits of vision models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def one_line(message) -> str:
    """A message as one line: torch's advice to unpickle with weights_only=False (never safe to
    follow for a file of unknown origin) dropped, whitespace runs (newlines too) made single spaces."""
    return plain(message) or type(message).__name__


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code (2 for any error, which is written to stderr as one line)."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except SystemExit as exc:  # argparse: --help (0) or a usage error already written (2)
        return 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 2
    except NeuronscopeError as exc:
        sys.stderr.write(f"error: {one_line(exc)}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    except MemoryError:
        sys.stderr.write(f"error: out of memory{_logged()}; try a smaller size or batch\n")
        return 2
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback in a log
        where = _logged()
        sys.stderr.write(f"error: unexpected {type(exc).__name__}: {one_line(exc)}{where}\n")
        return 2


def _logged() -> str:
    """Write the exception being handled, with its traceback, to a new log file; ' (traceback in
    PATH)', or '' when no log could be written."""
    try:
        folder = os.environ.get("NEURONSCOPE_LOG_DIR") or tempfile.gettempdir()
        fd, path = tempfile.mkstemp(prefix="neuronscope-error-", suffix=".log", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as log:
            log.write(f"neuronscope {' '.join(sys.argv[1:])}\n\n")
            traceback.print_exc(file=log)
    except Exception:  # noqa: BLE001 - no log is better than a second traceback
        return ""
    return f" (traceback in {path})"


if __name__ == "__main__":
    sys.exit(main())
