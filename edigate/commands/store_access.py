"""The operator commands' way to the store: name the database they use, and never create one.

`edigate messages …` and `edigate bodykeys rotate` work on an existing gateway's database. Run from
another folder, a relative SQLite path would silently open a new, empty file; a database that cannot be
reached must be one line, not a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["announce", "describe", "missing_database"]


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
