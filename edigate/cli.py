"""Command line entry point: `edigate serve | validate | outage plan | messages … | demo`.

Each sub-command lives in its own module under `edigate.commands` and exposes
`register(subparsers)`; the module sets `func` on its parser, which returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "edigate.commands.serve",
    "edigate.commands.validate",
    "edigate.commands.outage",
    "edigate.commands.messages",
    "edigate.commands.demo",
    "edigate.commands.purge",
    "edigate.commands.bodykeys",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edigate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet; others still work
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
