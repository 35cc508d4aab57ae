"""Plain JSON answers the stages share (the adapters word the format-specific ones)."""

from __future__ import annotations

from typing import Any

from edigate.ingest.model import Answer


def error(status: int, reason: str, *, kind: str = "error", **extra: Any) -> Answer:
    """`{"status": "rejected" | "error", "reason": …}`, as edigate.web.errors.error."""
    return Answer(status, {"status": kind, "reason": reason, **extra})
