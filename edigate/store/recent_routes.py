"""The routes with healthy traffic in the health tick's receipt window, kept between ticks (issue 14).

A route is known and ok while it had a message accepted or delivered within the receipt window (an hour),
even when nothing else happened on it: `/api/v1/routes` lists it, the matrix shows it. Reading that from
the store every tick meant grouping every such message of the window (180,000 rows after ten minutes at
300 msg/s, ~1 M after an hour): a tick whose cost grew with the hour's traffic. Instead the first tick
reads the window once, and each later tick reads only the rows added since the one before, by id (a range
of the primary key), keeping per route the newest such message's time.

Ids are a watermark, not times: a row written with an earlier `created_at` (a late commit, another
instance's clock) is still new by its id. On PostgreSQL two instances' transactions may commit out of id
order, so each read starts from the newest id seen at least `margin_seconds` before (the rows of that
margin are read again; counting a route twice is harmless): only a transaction open longer than the
margin after a higher id was committed is not seen by its id, and only its route's "seen" time lacks it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["RecentRoutes"]

Route = tuple[str, str]  # sender, receiver

#: how long a transaction may stay open after a higher id committed and its rows still be read by id
MARGIN_SECONDS = 15.0


@dataclass
class RecentRoutes:
    """Per route (sender, receiver): the newest `created_at` of a message seen accepted or delivered."""

    margin_seconds: float = MARGIN_SECONDS
    seen: dict[Route, datetime] = field(default_factory=dict)
    #: (monotonic time of a read, the newest id then): where the next reads start
    _marks: deque[tuple[float, int]] = field(default_factory=deque)
    _key: tuple[tuple[str, ...], timedelta] | None = None
    _last_now: datetime | None = None

    def incremental(self, receivers: Sequence[str], window: timedelta, now: datetime) -> bool:
        """Whether this tick may read only the new rows: something was read before, for the same receivers
        and window, and the tick's clock has not gone back (else the memory is dropped: the window is
        read whole again)."""
        key = (tuple(receivers), window)
        if self._key != key or self._last_now is None or now < self._last_now or not self._marks:
            self.seen.clear()
            self._marks.clear()
            self._key = key
            return False
        return True

    def after_id(self) -> int:
        """The id after which the next read starts: the newest id seen at a read `margin_seconds` ago or
        more (the oldest read when none is that old)."""
        cutoff = time.monotonic() - self.margin_seconds
        while len(self._marks) > 1 and self._marks[1][0] <= cutoff:
            self._marks.popleft()
        return self._marks[0][1]

    def note(self, rows: Iterable[tuple[str, str, datetime | None]], newest_id: int | None, now: datetime) -> None:
        """Take in one read: (sender, receiver, newest created_at) per route, and the newest id stored."""
        for sender, receiver, at in rows:
            if at is None:
                continue
            route = (sender, receiver)
            known = self.seen.get(route)
            if known is None or at > known:
                self.seen[route] = at
        newest = newest_id if newest_id is not None else (self._marks[-1][1] if self._marks else 0)
        if self._marks and newest < self._marks[-1][1]:
            newest = self._marks[-1][1]
        self._marks.append((time.monotonic(), newest))
        self._last_now = now

    def routes(self, receivers: Iterable[str], since: datetime) -> list[Route]:
        """The routes into `receivers` seen since `since`; older ones are forgotten."""
        for route in [r for r, at in self.seen.items() if at < since]:
            del self.seen[route]
        wanted = set(receivers)
        return [route for route in self.seen if route[1] in wanted]
