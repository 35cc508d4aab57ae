"""The one clock of the running service.

Production reads the system clock. Tests may set EDIGATE_CLOCK_FILE to a file holding an ISO 8601
instant (with offset); the service then reads "now" from it on every call, so a test can travel in
time without patching code. The variable is a test hook only and is logged loudly at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def file_clock(path: str) -> Clock:
    """Read "now" from ``path`` on every call.

    A test that rewrites the file in place can be read half-written (empty or cut short). Such a torn
    read keeps the last instant read, rather than jumping to the system clock, weeks away from the
    test's time; only before any good read does the system clock stand in.
    """
    last: list[datetime] = []

    def now() -> datetime:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
        except ValueError:
            value = None
        if value is not None and value.tzinfo is None and not last:
            raise ValueError(f"EDIGATE_CLOCK_FILE {path} must hold an instant with an offset")
        if value is None or value.tzinfo is None:  # torn: cut before its end or before its offset
            return last[-1] if last else datetime.now(UTC)
        last[:] = [value.astimezone(UTC)]
        return last[0]

    return now


def clock_from_environment() -> Clock:
    path = os.environ.get("EDIGATE_CLOCK_FILE")
    return file_clock(path) if path else system_clock
