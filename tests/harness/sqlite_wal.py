"""A plain sqlite3 connection set up as the service's connections are (for WAL checkpoint tests and benches)."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def connect_like_service(db_file: Path) -> sqlite3.Connection:
    """WAL, synchronous FULL, no checkpoint in its own commits (the service's checkpoint thread does those),
    a long busy timeout; autocommit, usable from any thread."""
    conn = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    return conn
