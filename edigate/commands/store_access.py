"""The operator commands' way to the store: name the database they use, and never create one.

`edigate messages …` and `edigate bodykeys rotate` work on an existing gateway's database, both through
:func:`run_on_database`. Run from another folder, a relative SQLite path would silently open a new, empty
file; a database that cannot be reached must be one line, not a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from edigate.store.db import Database

__all__ = ["announce", "describe", "missing_database", "run_on_database"]


def _sqlite_path(url: str) -> Path | None:
    for prefix in ("sqlite+aiosqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            return Path(url[len(prefix) :].split("?", 1)[0])
    return None


def describe(url: str) -> str:
    """The database for people: the absolute SQLite file, or PostgreSQL host/database (never a password)."""
    path = _sqlite_path(url)
    if path is not None:
        return f"SQLite {path.resolve()}"
    parts = urlsplit(url)
    return f"PostgreSQL {parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


def missing_database(url: str, config: str) -> str | None:
    """Why the command must not go on (a SQLite file that does not exist), or None."""
    path = _sqlite_path(url)
    if path is None or path.is_file():
        return None
    return (
        f"the database {path.resolve()} does not exist (storage.url in {config}); "
        "refusing to create an empty one. Run from the gateway's folder or give its configuration."
    )


def announce(url: str) -> None:
    print(f"edigate: database: {describe(url)}", file=sys.stderr)


def run_on_database(url: str, config: str, work: Callable[[Database], Awaitable[int]]) -> int:
    """Open the existing database at `url` (schema brought up to date), run `work` on it, close it; the
    exit code is `work`'s, 2 for a database that does not exist, 1 with one line for one that fails."""
    missing = missing_database(url, config)
    if missing:
        print(f"edigate: {missing}", file=sys.stderr)
        return 2
    announce(url)
    try:
        return asyncio.run(_opened(url, work))
    except Exception as exc:  # one line, not a traceback: the operator needs the cause, not the stack
        first = (str(exc).splitlines() or [""])[0][:300]
        print(f"edigate: cannot use the database {describe(url)}: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1


async def _opened(url: str, work: Callable[[Database], Awaitable[int]]) -> int:
    db = Database.open(url)
    try:
        await db.migrate()
        return await work(db)
    finally:
        await db.close()
