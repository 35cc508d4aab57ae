"""Retry decisions, pure: exponential backoff with jitter, dead-letter rules, a per-receiver circuit."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from edigate.config import DeliverySettings


def backoff_delay(attempts: int, settings: DeliverySettings, rnd: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure: base·2^(n-1), capped, with jitter
    (50–100 % of the step) so receivers coming back are not hit by every queue at once."""
    r = rnd or random
    raw = min(settings.backoff_max_seconds, settings.backoff_base_seconds * 2 ** max(0, attempts - 1))
    return float(raw * (0.5 + r.random() * 0.5))


def dead_letter_reason(attempts: int, created_at: datetime, now: datetime, settings: DeliverySettings) -> str | None:
    """Why a message should stop being retried, or None to keep trying."""
    if attempts >= settings.max_attempts:
        return f"opgivet efter {attempts} forsøg"
    if now - created_at >= timedelta(minutes=settings.max_age_minutes):
        return f"opgivet efter {settings.max_age_minutes:g} minutter i køen"
    return None


@dataclass
class Circuit:
    """Per-receiver circuit: open after N consecutive failures; after the open time one probe (half-open)."""

    threshold: int
    open_seconds: float
    failures: int = 0
    open_until: float = 0.0  # monotonic seconds

    def state(self, now: float) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "open" if now < self.open_until else "half_open"

    def wait(self, now: float) -> float:
        """Seconds until the next attempt is allowed (0 when closed or half-open)."""
        return max(0.0, self.open_until - now) if self.failures >= self.threshold else 0.0

    def success(self) -> None:
        self.failures = 0
        self.open_until = 0.0

    def failure(self, now: float) -> bool:
        """Record a failure; True when this failure opened (or re-opened) the circuit."""
        self.failures += 1
        if self.failures >= self.threshold:
            self.open_until = now + self.open_seconds
            return True
        return False
