"""`edigate messages list|show|retry --config FILE`: look at and re-queue messages, straight from the DB.

For operators on the gateway host. `show` prints metadata and history, never the body (it holds the
CPR); a running service picks a re-queued message up within its poll interval.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from datetime import datetime
from typing import Any

from edigate.clock import clock_from_environment
from edigate.commands.store_access import run_on_database
from edigate.settings import ConfigError, load_settings
from edigate.store.db import Database
from edigate.store.messages import MessageStore, SearchFilter


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("messages", help="list, show or re-queue messages in the store")
    sub = p.add_subparsers(dest="messages_command", metavar="ACTION")
    ls = sub.add_parser("list", help="search messages (newest first)")
    for name in ("envelope-id", "sender", "receiver", "state", "since"):
        ls.add_argument(f"--{name}")
    ls.add_argument("--limit", type=int, default=50)
    show = sub.add_parser("show", help="one message with its letters and history")
    show.add_argument("id", type=int)
    retry = sub.add_parser("retry", help="re-queue a message for delivery")
    retry.add_argument("id", type=int)
    for sp in (ls, show, retry):
        sp.add_argument("--config", required=True, help="TOML configuration file")
        sp.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lambda a: (p.print_help(sys.stderr), 2)[1])
    for sp in (ls, show, retry):
        sp.set_defaults(func=run)


def _fmt(v: Any) -> str:
    return v.isoformat().replace("+00:00", "Z") if isinstance(v, datetime) else ("" if v is None else str(v))


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"edigate: configuration error: {exc}", file=sys.stderr)
        return 2
    return run_on_database(settings.storage.url, args.config, functools.partial(_run, args))


async def _run(args: argparse.Namespace, db: Database) -> int:
    store = MessageStore(db, clock_from_environment())
    if args.messages_command == "list":
        since = datetime.fromisoformat(args.since.replace("Z", "+00:00")) if args.since else None
        rows = await store.search(
            SearchFilter(
                envelope_id=args.envelope_id,
                sender=args.sender,
                receiver=args.receiver,
                state=args.state,
                since=since,
                limit=args.limit,
            )
        )
        if args.json:
            print(json.dumps(rows, default=_fmt, indent=1))
        else:
            print(
                f"{'id':>8}  {'state':<13} {'type':<7} {'envelope':<15} {'sender':<13} -> "
                f"{'receiver':<13} {'attempts':>8}  created"
            )
            for r in rows:
                print(
                    f"{r['id']:>8}  {r['state']:<13} {r['type']:<7} {r['envelope_id']:<15} "
                    f"{r['sender_ean']:<13} -> {r['receiver_ean']:<13} {r['attempts']:>8}  "
                    f"{_fmt(r['created_at'])}"
                )
        return 0
    if args.messages_command == "show":
        row = await store.get(args.id)
        if row is None:
            print(f"no message {args.id}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(row, default=_fmt, indent=1))
            return 0
        for k, v in row.items():
            if k not in ("letters", "history"):
                print(f"{k:>16}: {_fmt(v)}")
        print("letters:")
        for lt in row["letters"]:
            print("  " + "  ".join(f"{k}={_fmt(v)}" for k, v in lt.items() if v is not None))
        print("history:")
        for ev in row["history"]:
            print(f"  {_fmt(ev['at'])}  {ev['event']:<20} {_fmt(ev['detail'])}")
        return 0
    if await store.retry(args.id):
        print(f"message {args.id} re-queued")
        return 0
    print(f"message {args.id} not found or never deliverable (rejected)", file=sys.stderr)
    return 1
