"""Limits for unauthenticated subscription requests, so the confirmation mail cannot flood a victim's inbox.

Anyone may ask for a subscription (double opt-in), so anyone could make edigate mail an address they do
not own: 25 requests in a quarter of a second once sent 25 confirmation mails to one address. Three
limits, checked in this order:

* per client (the TCP peer, as for the login throttle): at most `max_per_client` requests within
  `client_window`; beyond that 429 with Retry-After;
* one pending confirmation per address: while a pending subscription younger than `address_window`
  exists for the address, a new request sends nothing and gets the same neutral answer as a new one
  (so the answer does not reveal whether the address is known); that rule is read from the database,
  so it holds across restarts and instances;
* per address: at most `max_per_address` confirmation mails within `address_window` (covers
  subscribe, confirm, subscribe again loops).

The counters are in memory, per process, with a cap on the number of keys (least recently seen
forgotten first), so a flood of client or target addresses costs bounded memory. The check and the
write of a request run under one lock, so requests that arrive together cannot all pass the check.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_MAX_KEYS = 10_000


class TooManyRequests(Exception):
    """A client over its limit; `retry_after` whole seconds until it may ask again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many subscription requests; retry after {retry_after} s")
        self.retry_after = retry_after


class SlidingWindow:
    """Counts events per key within `window`; bounded number of keys."""

    def __init__(
        self, limit: int, window: timedelta, clock: Callable[[], datetime], max_keys: int = DEFAULT_MAX_KEYS
    ) -> None:
        if limit < 1 or window <= timedelta(0) or max_keys < 1:
            raise ValueError("limit, window and max_keys must be positive")
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[datetime]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        events = self._events.get(key)
        if events is None:
            return deque()
        while events and not (now - self.window < events[0] <= now):  # also drops times from a clock set back
            events.popleft()
        return events

    def wait_seconds(self, key: str) -> int | None:
        """Whole seconds (at least 1) until `key` has room for one more event, or None if it has now."""
        now = self._clock()
        events = self._recent(key, now)
        if len(events) < self.limit:
            return None
        return max(1, math.ceil((events[0] + self.window - now).total_seconds()))

    def add(self, key: str) -> None:
        now = self._clock()
        events = self._recent(key, now)
        events.append(now)
        self._events[key] = events
        self._events.move_to_end(key)
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)


@dataclass(frozen=True)
class GuardSettings:
    max_per_client: int = 10
    client_window: timedelta = timedelta(minutes=10)
    max_per_address: int = 3
    address_window: timedelta = timedelta(hours=24)


class SubscribeGuard:
    """The three limits of the module docstring; `lock` serialises check-and-create of a request."""

    def __init__(self, settings: GuardSettings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clients = SlidingWindow(settings.max_per_client, settings.client_window, clock)
        self.addresses = SlidingWindow(settings.max_per_address, settings.address_window, clock)
        self.lock = asyncio.Lock()

    def count_client(self, client: str) -> None:
        """One unauthenticated request from `client`; raises TooManyRequests (not counted) when over."""
        wait = self.clients.wait_seconds(client)
        if wait is not None:
            raise TooManyRequests(wait)
        self.clients.add(client)

    def may_mail(self, address: str) -> bool:
        return self.addresses.wait_seconds(address.lower()) is None

    def mailed(self, address: str) -> None:
        self.addresses.add(address.lower())
