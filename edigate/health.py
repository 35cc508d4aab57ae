"""Route health: signals in, states and events out. Pure - no I/O, time is a parameter.

A *route* is (sender organisation -> receiver organisation); its state is ``ok``, ``degraded`` or ``down``,
with a drill-down per message type. The gateway hands :meth:`HealthMonitor.update` the current
:class:`RouteSignals` of every route (read from the store and the delivery worker) every few seconds and gets
back the :class:`HealthEvent` s to act on (alert mail, draft incident, log line).

Hysteresis: a route gets *worse* as soon as a threshold is crossed (the thresholds themselves carry the time:
"unreachable for 10 min", "oldest pending older than 15 min", so one failed delivery does not flap), and gets
*better* only after the better condition has held for ``recovery_hold`` without interruption.

A receiver whose system is down (unreachable for ``down_unreachable`` on any route into it, or every one of
its >= ``receiver_min_routes`` routes down) marks all routes into it down as ONE ``receiver_down`` event
listing the routes, and recovers as one ``receiver_recovered`` event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "CircuitState",
    "EventKind",
    "HealthEvent",
    "HealthMatrix",
    "HealthMonitor",
    "HealthState",
    "HealthThresholds",
    "Reason",
    "RouteHealth",
    "RouteSignals",
    "TypeHealth",
    "TypeSignals",
    "route_key",
]

Route = tuple[str, str]  # (sender, receiver)


class HealthState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthState.OK: 0, HealthState.DEGRADED: 1, HealthState.DOWN: 2}


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


#: the circuit breaker's state as the desk reads it in a health reason
_CIRCUIT_DA = {
    CircuitState.OPEN: "leveringer sat på pause efter gentagne fejl (afbryderen er åben)",
    CircuitState.HALF_OPEN: "prøvelevering efter pause (afbryderen er halvåben)",
    CircuitState.CLOSED: "afbryderen er lukket",
}


class EventKind(StrEnum):
    ROUTE_DOWN = "route_down"
    ROUTE_RECOVERED = "route_recovered"
    RECEIVER_DOWN = "receiver_down"
    RECEIVER_RECOVERED = "receiver_recovered"
    DEGRADED = "degraded"


def route_key(sender: str, receiver: str) -> str:
    return f"{sender}->{receiver}"


# ---------------------------------------------------------------------------------------------- inputs


#: The health tick counts the waiting messages of one route and message type up to this many, a bounded
#: read of the pending rows' index, so that its cost does not grow with a dead receiver's queue (issue 14).
#: Beyond it the count reads PENDING_COUNT_CAP + 1: "over 1000" in texts; the age of the oldest message,
#: which decides the health state, is always exact. 1,000, not 10,000 as before: walking 10,001 entries
#: took 14 ms of a PostgreSQL tick (more under load), and past a thousand the age says what matters.
PENDING_COUNT_CAP = 1_000


def pending_text(count: int) -> str:
    """A pending count as texts show it: exact up to the cap, "over <cap>" beyond."""
    return f"over {PENDING_COUNT_CAP}" if count > PENDING_COUNT_CAP else str(count)


@dataclass(frozen=True)
class TypeSignals:
    """One message type on one route."""

    pending_count: int = 0
    oldest_pending_at: datetime | None = None
    receipts_overdue: int = 0
    receipts: int = 0  # receipts received in the gateway's recent window …
    refusals: int = 0  # … of which negative (XCTL02)


@dataclass(frozen=True)
class RouteSignals:
    """What the store and the delivery worker know about one route right now.

    ``failing_since`` is the time of the first failed attempt of the current failure streak (None when the
    last attempt succeeded); the receiver counts as unreachable from then on. Delivery is per receiver, so
    the worker may give every route into a failing receiver the same ``failing_since``.
    """

    sender: str
    receiver: str
    pending_count: int = 0
    oldest_pending_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    receipts_overdue: int = 0
    receipts: int = 0
    refusals: int = 0
    circuit: str = CircuitState.CLOSED
    last_error: str | None = None
    by_type: Mapping[str, TypeSignals] = field(default_factory=dict)
    dead_letters: int = 0  # messages given up (delivery failed for good) in the recent window
    last_dead_letter: str | None = None  # the newest one's reason, scrubbed

    @property
    def route(self) -> Route:
        return (self.sender, self.receiver)

    @property
    def pending_types(self) -> tuple[str, ...]:
        return tuple(sorted(t for t, s in self.by_type.items() if s.pending_count > 0))


@dataclass(frozen=True)
class HealthThresholds:
    """When a route is degraded or down. Configured in ``[health]`` (``edigate.config.HealthSettings``)."""

    down_unreachable: timedelta = timedelta(minutes=10)
    down_oldest_pending: timedelta = timedelta(minutes=15)
    down_receipts_overdue: int | None = None  # None: overdue receipts alone never make a route down
    degraded_unreachable: timedelta = timedelta(minutes=2)
    degraded_oldest_pending: timedelta = timedelta(minutes=5)
    degraded_consecutive_failures: int = 3
    degraded_receipts_overdue: int = 1
    degraded_refusal_rate: float = 0.2
    refusal_min_receipts: int = 5
    recovery_hold: timedelta = timedelta(minutes=2)
    receiver_min_routes: int = 2


# ---------------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Reason:
    """Why a route is not ok: a stable ``code`` for programs, a Danish ``text`` for people."""

    code: str
    state: HealthState
    text: str


@dataclass(frozen=True)
class TypeHealth:
    state: HealthState
    reasons: tuple[Reason, ...]
    pending_count: int
    oldest_pending_at: datetime | None
    receipts_overdue: int


@dataclass(frozen=True)
class RouteHealth:
    sender: str
    receiver: str
    state: HealthState
    since: datetime | None  # when the route entered this state (None: ok since the monitor started)
    reasons: tuple[Reason, ...]
    signals: RouteSignals
    by_type: Mapping[str, TypeHealth]

    @property
    def route(self) -> Route:
        return (self.sender, self.receiver)


@dataclass(frozen=True)
class HealthMatrix:
    """The state of every route the monitor knows, for ``GET /api/v1/routes``, the status page and metrics."""

    at: datetime | None
    routes: tuple[RouteHealth, ...]
    receivers_down: frozenset[str]

    def states(self) -> dict[Route, str]:
        """(sender, receiver) -> state, e.g. for ``Metrics.update_gauges(route_states=...)``."""
        return {r.route: str(r.state) for r in self.routes}

    def get(self, sender: str, receiver: str) -> RouteHealth | None:
        for r in self.routes:
            if r.sender == sender and r.receiver == receiver:
                return r
        return None

    def as_dict(self, names: Mapping[str, str] | None = None) -> dict[str, Any]:
        """JSON-ready; ``names`` maps EAN -> organisation name for display."""
        names = names or {}

        def when(t: datetime | None) -> str | None:
            return t.isoformat() if t is not None else None

        def age(t: datetime | None) -> float | None:
            return round((self.at - t).total_seconds(), 1) if t is not None and self.at is not None else None

        def reasons(rs: Iterable[Reason]) -> list[dict[str, str]]:
            return [{"code": r.code, "state": str(r.state), "text": r.text} for r in rs]

        return {
            "at": when(self.at),
            "receivers_down": sorted(self.receivers_down),
            "routes": [
                {
                    "sender": r.sender,
                    "sender_name": names.get(r.sender),
                    "receiver": r.receiver,
                    "receiver_name": names.get(r.receiver),
                    "state": str(r.state),
                    "since": when(r.since),
                    "reasons": reasons(r.reasons),
                    "pending_count": r.signals.pending_count,
                    "oldest_pending_age_seconds": age(r.signals.oldest_pending_at),
                    "consecutive_failures": r.signals.consecutive_failures,
                    "failing_since": when(r.signals.failing_since),
                    "last_success_at": when(r.signals.last_success_at),
                    "receipts_overdue": r.signals.receipts_overdue,
                    "circuit": str(r.signals.circuit),
                    "last_error": r.signals.last_error,
                    "dead_letters": r.signals.dead_letters,
                    "last_dead_letter": r.signals.last_dead_letter,
                    "types": {
                        t: {
                            "state": str(th.state),
                            "reasons": reasons(th.reasons),
                            "pending_count": th.pending_count,
                            "oldest_pending_age_seconds": age(th.oldest_pending_at),
                            "receipts_overdue": th.receipts_overdue,
                        }
                        for t, th in sorted(r.by_type.items())
                    },
                }
                for r in self.routes
            ],
        }


@dataclass(frozen=True)
class HealthEvent:
    """A change on-call must hear about. ``since`` is when the problem started (the first failure or the
    oldest pending message, whichever is earlier); for recovered events ``duration`` is how long it lasted."""

    kind: EventKind
    at: datetime
    receiver: str
    routes: tuple[Route, ...]
    state: HealthState
    since: datetime
    pending_count: int
    oldest_pending_at: datetime | None
    last_error: str | None
    message_types: tuple[str, ...]
    reasons: tuple[Reason, ...]
    still_down: tuple[Route, ...] = ()  # receiver_recovered: routes still down on their own account
    duration: timedelta | None = None

    @property
    def key(self) -> str:
        """Identifies what the event is about across down/recovered (for throttling and incident links)."""
        if self.kind in (EventKind.RECEIVER_DOWN, EventKind.RECEIVER_RECOVERED) or len(self.routes) != 1:
            return f"receiver:{self.receiver}"
        return f"route:{route_key(*self.routes[0])}"

    @property
    def sender(self) -> str | None:
        return self.routes[0][0] if len(self.routes) == 1 else None

    @property
    def oldest_pending_age(self) -> timedelta | None:
        return self.at - self.oldest_pending_at if self.oldest_pending_at is not None else None

    @property
    def is_down(self) -> bool:
        return self.kind in (EventKind.ROUTE_DOWN, EventKind.RECEIVER_DOWN)

    @property
    def is_recovery(self) -> bool:
        return self.kind in (EventKind.ROUTE_RECOVERED, EventKind.RECEIVER_RECOVERED)


# ---------------------------------------------------------------------------------------------- assessment


def _minutes(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    if seconds < 60:  # short test/demo thresholds: "0 min" would read as "not at all"
        return f"{seconds} s"
    m = seconds // 60
    return f"{m} min" if m < 120 else f"{m // 60} t {m % 60} min"


def assess(signals: RouteSignals, now: datetime, th: HealthThresholds) -> tuple[HealthState, tuple[Reason, ...]]:
    """The raw state of one route from its signals alone (no hysteresis, no receiver view)."""
    reasons: list[Reason] = []
    down, degraded = HealthState.DOWN, HealthState.DEGRADED
    if signals.consecutive_failures > 0 and signals.failing_since is not None:
        unreachable = now - signals.failing_since
        text = f"modtager utilgængelig i {_minutes(unreachable)}"
        if unreachable >= th.down_unreachable:
            reasons.append(Reason("unreachable", down, text))
        elif unreachable >= th.degraded_unreachable:
            reasons.append(Reason("unreachable", degraded, text))
    if signals.consecutive_failures >= th.degraded_consecutive_failures and not any(
        r.code == "unreachable" for r in reasons
    ):
        text = f"{signals.consecutive_failures} fejlede leveringer i træk"
        reasons.append(Reason("consecutive_failures", degraded, text))
    reasons.extend(_pending_reasons(signals.pending_count, signals.oldest_pending_at, now, th))
    reasons.extend(_receipt_reasons(signals.receipts_overdue, signals.receipts, signals.refusals, th))
    if signals.circuit != CircuitState.CLOSED:
        reasons.append(Reason("circuit", degraded, _CIRCUIT_DA[CircuitState(signals.circuit)]))
    if signals.dead_letters > 0:  # the queue moves on, but a message never arrived: someone must look
        n = signals.dead_letters
        text = f"{n} {'meddelelse' if n == 1 else 'meddelelser'} opgivet (kan ikke leveres)"
        reasons.append(Reason("dead_letters", degraded, text))
    state = max((r.state for r in reasons), key=lambda s: s.rank, default=HealthState.OK)
    return state, tuple(sorted(reasons, key=lambda r: -r.state.rank))


def _pending_reasons(pending: int, oldest: datetime | None, now: datetime, th: HealthThresholds) -> list[Reason]:
    if pending <= 0 or oldest is None:
        return []
    age = now - oldest
    text = f"ældste ventende meddelelse er {_minutes(age)} gammel ({pending_text(pending)} venter)"
    if age >= th.down_oldest_pending:
        return [Reason("oldest_pending", HealthState.DOWN, text)]
    if age >= th.degraded_oldest_pending:
        return [Reason("oldest_pending", HealthState.DEGRADED, text)]
    return []


def _receipt_reasons(overdue: int, receipts: int, refusals: int, th: HealthThresholds) -> list[Reason]:
    out: list[Reason] = []
    if overdue > 0:
        text = f"{overdue} kvitteringer forsinkede"
        if th.down_receipts_overdue is not None and overdue >= th.down_receipts_overdue:
            out.append(Reason("receipts_overdue", HealthState.DOWN, text))
        elif overdue >= th.degraded_receipts_overdue:
            out.append(Reason("receipts_overdue", HealthState.DEGRADED, text))
    if receipts >= th.refusal_min_receipts and receipts > 0:
        rate = refusals / receipts
        if rate >= th.degraded_refusal_rate:
            out.append(Reason("refusal_rate", HealthState.DEGRADED, f"{rate:.0%} negative kvitteringer (XCTL02)"))
    return out


def _assess_type(signals: TypeSignals, now: datetime, th: HealthThresholds) -> TypeHealth:
    reasons = _pending_reasons(signals.pending_count, signals.oldest_pending_at, now, th)
    reasons += _receipt_reasons(signals.receipts_overdue, signals.receipts, signals.refusals, th)
    state = max((r.state for r in reasons), key=lambda s: s.rank, default=HealthState.OK)
    return TypeHealth(state, tuple(reasons), signals.pending_count, signals.oldest_pending_at, signals.receipts_overdue)


# ---------------------------------------------------------------------------------------------- the monitor


@dataclass
class _Hysteresis:
    """Worse at once, better only after the better raw state held for the recovery hold."""

    state: HealthState = HealthState.OK
    since: datetime | None = None
    better_since: datetime | None = None
    problem_since: datetime | None = None  # start of the current non-ok spell

    def step(self, raw: HealthState, now: datetime, hold: timedelta, problem_start: datetime) -> HealthState:
        if raw.rank >= self.state.rank:
            self.better_since = None
            if raw.rank > self.state.rank:
                if self.state is HealthState.OK:
                    self.problem_since = problem_start
                self._enter(raw, now)
        else:
            if self.better_since is None:
                self.better_since = now
            if now - self.better_since >= hold:
                self._enter(raw, now)
                self.better_since = None
                if raw is HealthState.OK:
                    self.problem_since = None
        return self.state

    def _enter(self, state: HealthState, now: datetime) -> None:
        self.state = state
        self.since = now


def _problem_start(signals: Iterable[RouteSignals], now: datetime) -> datetime:
    starts = [now]
    for s in signals:
        if s.consecutive_failures > 0 and s.failing_since is not None:
            starts.append(s.failing_since)
        if s.pending_count > 0 and s.oldest_pending_at is not None:
            starts.append(s.oldest_pending_at)
    return min(starts)


class HealthMonitor:
    """Keeps the hysteresis state of every route and receiver between updates."""

    def __init__(self, thresholds: HealthThresholds | None = None) -> None:
        self.thresholds = thresholds or HealthThresholds()
        self._routes: dict[Route, _Hysteresis] = {}
        self._receivers: dict[str, _Hysteresis] = {}
        self._signals: dict[Route, RouteSignals] = {}
        self._raw: dict[Route, tuple[HealthState, tuple[Reason, ...]]] = {}
        self._at: datetime | None = None

    def update(self, signals: Sequence[RouteSignals], now: datetime) -> list[HealthEvent]:
        """Feed the current signals of every route; returns the events this update causes.

        Routes known from earlier updates but missing now are assessed as quiet (no pending, no failures).
        """
        th = self.thresholds
        current = {s.route: s for s in signals}
        for route in self._signals:
            current.setdefault(route, RouteSignals(sender=route[0], receiver=route[1]))
        self._signals = current
        self._at = now

        by_receiver: dict[str, list[Route]] = {}
        for route in sorted(current):
            by_receiver.setdefault(route[1], []).append(route)

        events: list[HealthEvent] = []
        for receiver, routes in by_receiver.items():
            events.extend(self._update_receiver(receiver, routes, now, th))
        return events

    def _update_receiver(
        self, receiver: str, routes: list[Route], now: datetime, th: HealthThresholds
    ) -> list[HealthEvent]:
        sigs = [self._signals[r] for r in routes]
        raws = {}
        for route, s in zip(routes, sigs, strict=True):
            raws[route] = assess(s, now, th)
        self._raw.update(raws)

        unreachable_down = any(
            reason.code == "unreachable" and reason.state is HealthState.DOWN
            for state, reasons in raws.values()
            for reason in reasons
        )
        all_down = len(routes) >= max(th.receiver_min_routes, 1) and all(
            state is HealthState.DOWN for state, _ in raws.values()
        )
        receiver_raw = HealthState.DOWN if (unreachable_down or all_down) else HealthState.OK
        rtrack = self._receivers.setdefault(receiver, _Hysteresis())
        was_receiver_down = rtrack.state is HealthState.DOWN
        receiver_problem_since = rtrack.problem_since
        is_receiver_down = (
            rtrack.step(receiver_raw, now, th.recovery_hold, _problem_start(sigs, now)) is HealthState.DOWN
        )

        went_down: list[Route] = []
        went_degraded: list[Route] = []
        recovered: list[tuple[Route, datetime | None]] = []
        for route, s in zip(routes, sigs, strict=True):
            track = self._routes.setdefault(route, _Hysteresis())
            before, problem_since = track.state, track.problem_since
            after = track.step(raws[route][0], now, th.recovery_hold, _problem_start([s], now))
            if after is before:
                continue
            if after is HealthState.DOWN:
                went_down.append(route)
            elif before is HealthState.DOWN:
                recovered.append((route, problem_since))
            elif after is HealthState.DEGRADED:
                went_degraded.append(route)

        events: list[HealthEvent] = []
        if is_receiver_down and not was_receiver_down:
            events.append(
                self._event(EventKind.RECEIVER_DOWN, receiver, routes, now, since=rtrack.problem_since or now)
            )
        elif was_receiver_down and not is_receiver_down:
            still = tuple(r for r in routes if self._routes[r].state is HealthState.DOWN)
            events.append(
                self._event(
                    EventKind.RECEIVER_RECOVERED,
                    receiver,
                    [r for r in routes if r not in still],
                    now,
                    since=receiver_problem_since or now,
                    still_down=still,
                )
            )
        elif not is_receiver_down:
            # While the receiver is down its routes' own changes are covered by the receiver events.
            for route in went_down:
                events.append(
                    self._event(
                        EventKind.ROUTE_DOWN, receiver, [route], now, since=self._routes[route].problem_since or now
                    )
                )
            for route, problem_since in recovered:
                events.append(
                    self._event(EventKind.ROUTE_RECOVERED, receiver, [route], now, since=problem_since or now)
                )
        if not is_receiver_down and went_degraded:
            # one event per receiver and update, however many routes into it became degraded together
            first = min((self._routes[r].problem_since or now for r in went_degraded), default=now)
            events.append(self._event(EventKind.DEGRADED, receiver, went_degraded, now, since=first))
        return events

    def _event(
        self,
        kind: EventKind,
        receiver: str,
        routes: Sequence[Route],
        now: datetime,
        *,
        since: datetime,
        still_down: tuple[Route, ...] = (),
    ) -> HealthEvent:
        sigs = [self._signals[r] for r in routes] or [self._signals[r] for r in still_down]
        oldest = [s.oldest_pending_at for s in sigs if s.pending_count > 0 and s.oldest_pending_at is not None]
        errors = [s for s in sigs if s.last_error]
        # the most recent failure's error: the route failing longest is the best guess without timestamps
        last_error = errors[0].last_error if errors else None
        types = sorted({t for s in sigs for t in s.pending_types})
        reasons: list[Reason] = []
        seen: set[tuple[str, HealthState]] = set()
        for r in routes or still_down:
            for reason in self._raw.get(r, (HealthState.OK, ()))[1]:
                if (reason.code, reason.state) not in seen:  # one line per cause, not one per route
                    seen.add((reason.code, reason.state))
                    reasons.append(reason)
        recovery = kind in (EventKind.ROUTE_RECOVERED, EventKind.RECEIVER_RECOVERED)
        if recovery:
            state = HealthState.OK
            if routes:
                state = max((self._routes[r].state for r in routes), key=lambda s: s.rank)
        elif kind is EventKind.DEGRADED:
            state = HealthState.DEGRADED
        else:
            state = HealthState.DOWN
        return HealthEvent(
            kind=kind,
            at=now,
            receiver=receiver,
            routes=tuple(routes),
            state=state,
            since=since,
            pending_count=sum(s.pending_count for s in sigs),
            oldest_pending_at=min(oldest) if oldest else None,
            last_error=last_error,
            message_types=tuple(types),
            reasons=tuple(reasons),
            still_down=still_down,
            duration=(now - since) if recovery else None,
        )

    def current(self, key: str) -> HealthEvent | None:
        """A fresh down event for ``HealthEvent.key`` as of the last update (for reminder mails), or None
        when that route/receiver is not down any more."""
        at = self._at
        if at is None:
            return None
        kind_text, _, rest = key.partition(":")
        if kind_text == "receiver":
            rtrack = self._receivers.get(rest)
            if rtrack is None or rtrack.state is not HealthState.DOWN:
                return None
            routes = sorted(r for r in self._signals if r[1] == rest)
            return self._event(EventKind.RECEIVER_DOWN, rest, routes, at, since=rtrack.problem_since or at)
        if kind_text == "route":
            sender, _, receiver = rest.partition("->")
            track = self._routes.get((sender, receiver))
            if track is None or track.state is not HealthState.DOWN:
                return None
            return self._event(
                EventKind.ROUTE_DOWN, receiver, [(sender, receiver)], at, since=track.problem_since or at
            )
        return None

    def snapshot(self) -> HealthMatrix:
        """The matrix as of the last update."""
        th = self.thresholds
        now = self._at
        out: list[RouteHealth] = []
        receivers_down = frozenset(r for r, t in self._receivers.items() if t.state is HealthState.DOWN)
        for route in sorted(self._signals):
            s = self._signals[route]
            track = self._routes.get(route, _Hysteresis())
            state = track.state
            reasons = self._raw.get(route, (HealthState.OK, ()))[1]
            since = track.since
            if route[1] in receivers_down:
                state = HealthState.DOWN
                rtrack = self._receivers[route[1]]
                since = rtrack.since
                reasons = (Reason("receiver_down", HealthState.DOWN, "modtagerens system er nede"), *reasons)
            by_type = {t: _assess_type(ts, now, th) for t, ts in s.by_type.items()} if now is not None else {}
            out.append(RouteHealth(route[0], route[1], state, since, tuple(reasons), s, by_type))
        return HealthMatrix(now, tuple(out), receivers_down)
