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
    def now() -> datetime:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
        if not text:
            return datetime.now(UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            raise ValueError(f"EDIGATE_CLOCK_FILE {path} must hold an instant with an offset")
        return value.astimezone(UTC)

    return now


def clock_from_environment() -> Clock:
    path = os.environ.get("EDIGATE_CLOCK_FILE")
    return file_clock(path) if path else system_clock
