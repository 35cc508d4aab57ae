"""`edigate outage plan`: preview what an outage report will trigger under the outage procedure.

On-call staff use it to see, before filing, when a report is handled, by whom, and whether and when a
notice goes to the distribution lists. It only applies `notify.policy`; it reads and writes nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from notify.policy import DEFAULT_RULES, Plan, downtime, plan, to_local


def _instant(text: str) -> datetime:
    """An ISO 8601 time; `Z` or an offset is honoured, a naive time is local (Europe/Copenhagen)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-11-23T21:30, 2026-11-23T21:30+01:00 or 2026-11-23T20:30Z)"
        ) from None
    return to_local(value, DEFAULT_RULES)


def register(subparsers: Any) -> None:
    outage = subparsers.add_parser(
        "outage",
        help="the outage procedure (EDI-nedbrud/planlagt nedlukning)",
        description="The outage procedure (Meldeprocedure ved EDI-nedbrud/planlagt nedlukning).",
    )
    sub = outage.add_subparsers(dest="outage_command", metavar="SUBCOMMAND")

    def usage(_args: argparse.Namespace) -> int:
        outage.print_help(sys.stderr)
        return 2

    outage.set_defaults(func=usage)
    parser = sub.add_parser(
        "plan",
        help="preview what a report will trigger (JSON)",
        description=(
            "Preview what an outage report will trigger: when and by whom it is handled and whether and"
            " when a notice goes to the distribution lists. Times are ISO 8601; a time without offset is"
            " local time (Europe/Copenhagen). Prints JSON."
        ),
    )
    parser.add_argument("--kind", required=True, choices=("acute", "planned"), help="akut nedbrud or planlagt")
    parser.add_argument("--reported-at", required=True, type=_instant, metavar="ISO", help="when reported")
    parser.add_argument("--start", type=_instant, metavar="ISO", help="outage start (default: --reported-at)")
    parser.add_argument("--expected-end", required=True, type=_instant, metavar="ISO", help="expected end")
    parser.set_defaults(func=run_plan)


def plan_json(result: Plan) -> dict[str, object]:
    def iso(t: datetime | None) -> str | None:
        return None if t is None else to_local(t).isoformat()

    return {
        "notify": result.notify,
        "handled_at": iso(result.handled_at),
        "handled_by": result.handled_by,
        "first_notice_at": iso(result.first_notice_at),
        "downtime_minutes": result.downtime_minutes,
        "reason": result.reason,
    }


def run_plan(args: argparse.Namespace) -> int:
    start = args.start if args.start is not None else args.reported_at
    start_option = "--start" if args.start is not None else "--reported-at"
    if downtime(start, args.expected_end).total_seconds() < 0:
        print(
            f"edigate outage plan: error: --expected-end {args.expected_end.isoformat()} is before"
            f" {start_option} {start.isoformat()}",
            file=sys.stderr,
        )
        return 2
    result = plan(args.kind, args.reported_at, args.expected_end, start=args.start)
    print(json.dumps(plan_json(result), ensure_ascii=False, indent=2))
    return 0
