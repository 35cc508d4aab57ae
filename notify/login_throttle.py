"""Brute-force protection for the login form of the outage procedure (`POST /login`).

An access key (adgangsnøgle) is all that stands between a visitor and the incident form, so guessing keys
must be slow. After `max_failures` wrong keys from one client address within `window`, that address is
locked out for `window`. During the lock-out even a correct key is refused: otherwise a guesser would
still learn which key is right. A successful login clears the address's count.

The state is in memory, per process (a restart clears it), and keyed by the TCP peer address only: a
forwarded-for header is set by the client and would let a guesser pick a fresh "address" per try. The
number of tracked addresses is capped; past the cap the least recently seen address is forgotten, so a
flood of addresses costs bounded memory.

Time comes from the service clock (the same one as the rest of notify), so tests can move it with
EDIGATE_CLOCK_FILE. An optional observer hears each event (`wrong_key`, `lockout`, `throttled`), never the
address or the key: edigate counts them in its metrics, so guessing shows up in Prometheus.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW = timedelta(minutes=15)
DEFAULT_MAX_CLIENTS = 10_000


def _system_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Client:
    """One address: its recent failures (oldest first) and, once it has too many, the end of its lock-out."""

    failures: deque[datetime] = field(default_factory=deque)
    locked_until: datetime | None = None


class LoginThrottle:
    """Counts failed logins per client address and says when an address must wait."""

    def __init__(
        self,
        *,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window: timedelta = DEFAULT_WINDOW,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], datetime] = _system_now,
        observer: Callable[[str], None] | None = None,
    ) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if max_clients < 1:
            raise ValueError("max_clients must be at least 1")
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._clock = clock
        self._observer = observer
        self._clients: OrderedDict[str, _Client] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        """The number of addresses tracked now (for tests and the memory bound)."""
        return len(self._clients)

    def retry_after(self, address: str) -> int | None:
        """Whole seconds (at least 1) until `address` may try again, or None if it may try now."""
        client = self._clients.get(address)
        if client is None or client.locked_until is None:
            return None
        remaining = client.locked_until - self._clock()
        if remaining <= timedelta(0):
            del self._clients[address]  # served its time: starts again from zero
            return None
        # A clock moved backwards must not lock anyone out for longer than one window.
        return max(1, math.ceil(min(remaining, self.window).total_seconds()))

    def refuse_if_locked(self, address: str) -> int | None:
        """`retry_after` for a login attempt: a locked-out attempt is counted as `throttled`."""
        seconds = self.retry_after(address)
        if seconds is not None:
            self._emit("throttled")
        return seconds

    def failed(self, address: str) -> bool:
        """Record a wrong key from `address`; True if this failure starts its lock-out."""
        now = self._clock()
        client = self._clients.get(address)
        if client is None or (client.locked_until is not None and client.locked_until <= now):
            client = _Client()
            self._clients[address] = client
        self._clients.move_to_end(address)
        if client.locked_until is not None:
            return False  # already locked (callers check first); a refused try does not extend it
        self._emit("wrong_key")
        while client.failures and now - client.failures[0] >= self.window:
            client.failures.popleft()
        client.failures.append(now)
        self._evict()
        if len(client.failures) < self.max_failures:
            return False
        client.failures.clear()
        client.locked_until = now + self.window
        self._emit("lockout")
        return True

    def succeeded(self, address: str) -> None:
        """A correct key from `address`: forget its failures."""
        self._clients.pop(address, None)

    def _emit(self, event: str) -> None:
        if self._observer is not None:
            with contextlib.suppress(Exception):  # counting must never decide a login
                self._observer(event)

    def _evict(self) -> None:
        while len(self._clients) > self.max_clients:
            self._clients.popitem(last=False)


def wait_text(seconds: int) -> str:
    """The Danish message for a locked-out visitor, in whole minutes rounded up."""
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minut" if minutes == 1 else "minutter"
    return f"For mange forkerte forsøg. Prøv igen om {minutes} {unit}."
