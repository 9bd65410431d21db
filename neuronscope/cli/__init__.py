"""The `neuronscope` command: a thin layer over the Python API.

Each module in `neuronscope.cli.commands` defines `register(subparsers)`, which adds one
sub-command whose parser sets `func=run`; `run(args)` returns an exit code or None.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from neuronscope.errors import NeuronscopeError
from neuronscope.cli import commands


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: one line, exit 2
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="neuronscope", description="Reverse-engineer the neurons and circuits of vision models.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except NeuronscopeError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
