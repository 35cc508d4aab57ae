"""Command line entry point: `edigate serve | validate | outage plan | messages … | demo`.

Each sub-command lives in its own module under `edigate.commands` and exposes
`register(subparsers)`; the module sets `func` on its parser, which returns the exit code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edigate.commands import bodykeys, demo, messages, outage, purge, serve, validate

COMMAND_MODULES = (serve, validate, outage, messages, demo, purge, bodykeys)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edigate", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
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
