"""`edigate purge --config FILE [--days N] [--dry-run]`: purge message bodies past retention now.

Bodies (CPR and health data) of messages in a final state, last changed more than N days ago, are
emptied; metadata and history stay. N is `--days`, else `[retention] body_days`, else 30. Prints the
count. Safe while the service runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from edigate.clock import clock_from_environment
from edigate.settings import ConfigError, load_settings
from edigate.store.db import Database
from edigate.store.retention import FINAL_STATES, purge_bodies


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("purge", help="purge message bodies older than the retention period")
    p.add_argument("--config", required=True, help="TOML configuration file")
    p.add_argument("--days", type=int, help="retention in days (default: [retention] body_days, else 30)")
    p.add_argument("--dry-run", action="store_true", help="only count what would be purged")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"edigate: configuration error: {exc}", file=sys.stderr)
        return 2
    days = args.days if args.days is not None else settings.retention.body_days
    if days < 1:
        print("edigate: --days must be at least 1", file=sys.stderr)
        return 2
    return asyncio.run(_run(settings.storage.url, days, args.dry_run))


async def _run(url: str, days: int, dry_run: bool) -> int:
    db = Database.open(url)
    try:
        await db.migrate()
        result = await purge_bodies(db, clock_from_environment()(), days, dry_run=dry_run)
    except Exception as exc:  # a clear line for the operator, no traceback with connection details
        print(f"edigate: purge failed: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    cutoff = result.cutoff.isoformat(timespec="seconds").replace("+00:00", "Z")
    verb = "would purge" if dry_run else "purged"
    print(
        f"{verb} {result.purged} message bodies last changed before {cutoff} ({days} days); "
        f"states: {', '.join(FINAL_STATES)}, delivered without receipt request; metadata kept"
    )
    return 0
