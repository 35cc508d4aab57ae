"""`edigate demo [--speed N] [--workdir DIR] [--keep]`: the gateway with simulated hospitals and
municipalities, one outage from break to resolved notice, in a minute or two. Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from edigate.demo.scenario import run_demo


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the service with simulated hospital and municipality systems and show an outage",
        description=(
            "Starts edigate (a real `edigate serve` on a free port) with the Region Syddanmark example, "
            "simulated hospital and municipality systems, normal traffic with receipts, then one municipality's "
            "outage: route down, draft incident, notices in the mail folder, recovery, resolved notice."
        ),
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="run the story N times faster (shorter health thresholds and pauses); default 1 ≈ 1–2 minutes",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="directory for the config, database, mail folder and service log (default: a new temporary one)",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="keep the service and the simulated systems running after the story, until Ctrl-C",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0.1 <= args.speed <= 20:
        print("edigate demo: --speed must be between 0.1 and 20", file=sys.stderr)
        return 2
    try:
        return asyncio.run(run_demo(speed=args.speed, workdir=args.workdir, keep=args.keep, out=sys.stdout))
    except KeyboardInterrupt:
        print("edigate demo: stopped (Ctrl-C); the service and the simulated systems are stopped", flush=True)
        return 130
