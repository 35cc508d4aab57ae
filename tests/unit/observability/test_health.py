"""Route health as on-call experiences it: thresholds, no flapping, one event per receiver outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edigate.health import (
    EventKind,
    HealthEvent,
    HealthMonitor,
    HealthState,
    HealthThresholds,
    RouteSignals,
    TypeSignals,
    assess,
)

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
OUH = "5790000000111"
SLB = "5790000000128"
KOLDING = "5790000000227"
VEJLE = "5790000000203"


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def failing(
    sender: str, receiver: str, since: datetime, now: datetime, *, failures: int = 5, pending: int = 2
) -> RouteSignals:
    return RouteSignals(
        sender,
        receiver,
        pending_count=pending,
        oldest_pending_at=since,
        consecutive_failures=failures,
        failing_since=since,
        last_error="HTTP 503 Service Unavailable",
        circuit="open" if failures >= 5 else "closed",
        by_type={"XDIS17": TypeSignals(pending_count=pending, oldest_pending_at=since)},
    )


def healthy(sender: str, receiver: str, now: datetime) -> RouteSignals:
    return RouteSignals(sender, receiver, last_success_at=now)


def run(
    monitor: HealthMonitor, start: datetime, end: datetime, step: timedelta, signals: object
) -> list[tuple[datetime, HealthEvent]]:
    out = []
    t = start
    while t <= end:
        sigs = signals(t)  # type: ignore[operator]
        out += [(t, e) for e in monitor.update(sigs, t)]
        t += step
    return out


def test_thresholds_ok_degraded_down() -> None:
    th = HealthThresholds()
    assert assess(healthy(OUH, KOLDING, T0), T0, th)[0] is HealthState.OK
    # one failed attempt a moment ago: still ok
    one = RouteSignals(OUH, KOLDING, pending_count=1, oldest_pending_at=T0, consecutive_failures=1, failing_since=T0)
    assert assess(one, T0 + timedelta(seconds=30), th)[0] is HealthState.OK
    # unreachable for 3 min: degraded; for 10 min: down
    assert assess(one, T0 + minutes(3), th)[0] is HealthState.DEGRADED
    state, reasons = assess(one, T0 + minutes(10), th)
    assert state is HealthState.DOWN
    assert reasons[0].code == "unreachable" and "10 min" in reasons[0].text
    # no failures, but the oldest pending message is 16 min old: down
    slow = RouteSignals(OUH, KOLDING, pending_count=7, oldest_pending_at=T0)
    assert assess(slow, T0 + minutes(6), th)[0] is HealthState.DEGRADED
    assert assess(slow, T0 + minutes(16), th)[0] is HealthState.DOWN
    # receipts overdue and a high refusal (XCTL02) rate: degraded, never down by default
    assert assess(RouteSignals(OUH, KOLDING, receipts_overdue=40), T0, th)[0] is HealthState.DEGRADED
    refused = RouteSignals(OUH, KOLDING, receipts=10, refusals=3)
    state, reasons = assess(refused, T0, th)
    assert state is HealthState.DEGRADED and reasons[0].code == "refusal_rate"
    assert assess(RouteSignals(OUH, KOLDING, receipts=2, refusals=2), T0, th)[0] is HealthState.OK  # too few
    strict = HealthThresholds(down_receipts_overdue=5)
    assert assess(RouteSignals(OUH, KOLDING, receipts_overdue=5), T0, strict)[0] is HealthState.DOWN


def test_one_failed_delivery_does_not_flap() -> None:
    monitor = HealthMonitor()
    blip = {T0 + minutes(1)}

    def signals(t: datetime) -> list[RouteSignals]:
        if t in blip:
            return [failing(OUH, KOLDING, t, t, failures=1, pending=1)]
        return [healthy(OUH, KOLDING, t)]

    events = run(monitor, T0, T0 + minutes(30), timedelta(seconds=15), signals)
    assert events == []
    assert monitor.snapshot().get(OUH, KOLDING).state is HealthState.OK  # type: ignore[union-attr]


def test_route_goes_down_once_and_recovers_after_the_hold() -> None:
    monitor = HealthMonitor()
    outage_end = T0 + minutes(20)

    def signals(t: datetime) -> list[RouteSignals]:
        route = failing(OUH, KOLDING, T0, t) if t < outage_end else healthy(OUH, KOLDING, t)
        return [route, healthy(SLB, KOLDING, t)]  # the other route into Kolding has no traffic

    events = run(monitor, T0, T0 + minutes(40), timedelta(seconds=30), signals)
    kinds = [(t - T0, e.kind) for t, e in events]
    # degraded at once (5 failures, circuit open), down at 10 min (unreachable) ...
    assert kinds[0] == (timedelta(0), EventKind.DEGRADED)
    assert kinds[1][1] is EventKind.RECEIVER_DOWN  # unreachable is the receiver's system
    assert kinds[1][0] == minutes(10)
    # ... and recovered only after the 2-minute hold, once
    assert kinds[2:] == [(minutes(22), EventKind.RECEIVER_RECOVERED)]
    down = events[1][1]
    assert down.since == T0
    assert down.routes == ((OUH, KOLDING), (SLB, KOLDING))
    assert down.pending_count == 2 and down.message_types == ("XDIS17",)
    assert down.last_error == "HTTP 503 Service Unavailable"
    recovered = events[2][1]
    assert recovered.duration == minutes(22) and recovered.since == T0


def test_route_down_by_old_pending_without_failures_is_a_route_event() -> None:
    monitor = HealthMonitor()

    def signals(t: datetime) -> list[RouteSignals]:
        stuck = RouteSignals(
            OUH,
            KOLDING,
            pending_count=3,
            oldest_pending_at=T0,
            last_success_at=T0,
            last_error="receiver answered 202 but no delivery confirmation",
        )
        return [stuck, healthy(SLB, KOLDING, t)]

    events = run(monitor, T0, T0 + minutes(16), minutes(1), signals)
    assert [e.kind for _, e in events] == [EventKind.DEGRADED, EventKind.ROUTE_DOWN]
    (t_down, down) = events[1]
    assert t_down == T0 + minutes(15)
    assert down.routes == ((OUH, KOLDING),) and down.key == f"route:{OUH}->{KOLDING}"
    assert down.oldest_pending_age == minutes(15)
    matrix = monitor.snapshot()
    assert matrix.states() == {(OUH, KOLDING): "down", (SLB, KOLDING): "ok"}


def test_recovery_hold_resets_when_the_problem_returns() -> None:
    monitor = HealthMonitor(HealthThresholds(recovery_hold=minutes(2)))
    bad = RouteSignals(OUH, KOLDING, pending_count=1, oldest_pending_at=T0)
    monitor.update([bad], T0 + minutes(16))
    assert monitor.snapshot().states()[(OUH, KOLDING)] == "down"
    # clear for 1 min, bad again, clear again: no recovery until 2 uninterrupted minutes
    assert monitor.update([healthy(OUH, KOLDING, T0)], T0 + minutes(17)) == []
    assert monitor.update([healthy(OUH, KOLDING, T0)], T0 + minutes(18) - timedelta(seconds=1)) == []
    assert monitor.update([bad], T0 + minutes(18)) == []
    assert monitor.update([healthy(OUH, KOLDING, T0)], T0 + minutes(19)) == []
    assert monitor.update([healthy(OUH, KOLDING, T0)], T0 + minutes(20)) == []
    (event,) = monitor.update([healthy(OUH, KOLDING, T0)], T0 + minutes(21))
    assert event.kind is EventKind.ROUTE_RECOVERED
    assert event.state is HealthState.OK
    assert event.since == T0  # the problem began with the oldest pending message


def test_receiver_down_is_one_event_for_40_routes() -> None:
    monitor = HealthMonitor()
    senders = [f"57900001{i:05d}" for i in range(40)]
    outage = (T0 + minutes(1), T0 + minutes(30))

    def signals(t: datetime) -> list[RouteSignals]:
        if outage[0] <= t < outage[1]:
            return [failing(s, VEJLE, outage[0], t) for s in senders]
        return [healthy(s, VEJLE, t) for s in senders]

    events = run(monitor, T0, T0 + minutes(45), timedelta(seconds=20), signals)
    kinds = [e.kind for _, e in events]
    assert kinds == [EventKind.DEGRADED, EventKind.RECEIVER_DOWN, EventKind.RECEIVER_RECOVERED]
    degraded, down, recovered = (e for _, e in events)
    assert len(degraded.routes) == 40  # one degraded event too, not 40
    assert len(down.routes) == 40 and down.key == f"receiver:{VEJLE}"
    assert down.pending_count == 80
    assert len({r.text for r in down.reasons}) == len(down.reasons) <= 4  # reasons once, not per route
    assert events[1][0] == outage[0] + minutes(10)
    assert len(recovered.routes) == 40 and recovered.still_down == ()
    assert monitor.snapshot().receivers_down == frozenset()


def test_receiver_down_covers_routes_without_traffic_and_reports_still_down_routes() -> None:
    monitor = HealthMonitor()
    # OUH->KOLDING fails (receiver unreachable); SLB->KOLDING has nothing to send
    monitor.update([failing(OUH, KOLDING, T0, T0), healthy(SLB, KOLDING, T0)], T0)
    (down,) = [
        e
        for e in monitor.update([failing(OUH, KOLDING, T0, T0), healthy(SLB, KOLDING, T0)], T0 + minutes(10))
        if e.kind is EventKind.RECEIVER_DOWN
    ]
    matrix = monitor.snapshot()
    assert matrix.states() == {(OUH, KOLDING): "down", (SLB, KOLDING): "down"}
    slb = matrix.get(SLB, KOLDING)
    assert slb is not None and slb.reasons[0].code == "receiver_down"
    # the receiver answers again, but OUH's old backlog keeps that route down on its own account
    backlog = RouteSignals(OUH, KOLDING, pending_count=9, oldest_pending_at=T0 - minutes(10), last_success_at=T0)
    events = []
    for m in range(11, 15):
        events += monitor.update([backlog, healthy(SLB, KOLDING, T0)], T0 + minutes(m))
    (rec,) = events
    assert rec.kind is EventKind.RECEIVER_RECOVERED
    assert rec.routes == ((SLB, KOLDING),) and rec.still_down == ((OUH, KOLDING),)
    # the backlog clears: that route now recovers with its own event
    later = []
    for m in range(15, 20):
        later += monitor.update([healthy(OUH, KOLDING, T0), healthy(SLB, KOLDING, T0)], T0 + minutes(m))
    assert [(e.kind, e.routes) for e in later] == [(EventKind.ROUTE_RECOVERED, ((OUH, KOLDING),))]
    assert down.routes == ((OUH, KOLDING), (SLB, KOLDING))


def test_snapshot_matrix_with_type_drilldown_and_json() -> None:
    monitor = HealthMonitor()
    signals = RouteSignals(
        OUH,
        KOLDING,
        pending_count=5,
        oldest_pending_at=T0,
        receipts_overdue=1,
        by_type={
            "XDIS17": TypeSignals(pending_count=4, oldest_pending_at=T0),
            "XDIS91": TypeSignals(pending_count=1, oldest_pending_at=T0 + minutes(14)),
            "XDIS20": TypeSignals(receipts=10, refusals=5),
        },
    )
    monitor.update([signals], T0 + minutes(16))
    route = monitor.snapshot().get(OUH, KOLDING)
    assert route is not None and route.state is HealthState.DOWN
    assert route.by_type["XDIS17"].state is HealthState.DOWN
    assert route.by_type["XDIS91"].state is HealthState.OK
    assert route.by_type["XDIS20"].state is HealthState.DEGRADED
    data = monitor.snapshot().as_dict(names={OUH: "OUH", KOLDING: "Kolding Kommune"})
    (row,) = data["routes"]
    assert row["state"] == "down" and row["receiver_name"] == "Kolding Kommune"
    assert row["oldest_pending_age_seconds"] == 960.0
    assert {r["code"] for r in row["reasons"]} == {"oldest_pending", "receipts_overdue"}
    assert row["types"]["XDIS17"]["state"] == "down"
    assert data["at"] == (T0 + minutes(16)).isoformat()


def test_current_gives_fresh_numbers_for_reminders() -> None:
    monitor = HealthMonitor()
    monitor.update([RouteSignals(OUH, KOLDING, pending_count=2, oldest_pending_at=T0)], T0 + minutes(15))
    monitor.update([RouteSignals(OUH, KOLDING, pending_count=9, oldest_pending_at=T0)], T0 + minutes(45))
    fresh = monitor.current(f"route:{OUH}->{KOLDING}")
    assert fresh is not None and fresh.pending_count == 9 and fresh.since == T0
    assert monitor.current(f"receiver:{KOLDING}") is None


def test_thresholds_from_config_name_the_key() -> None:
    from edigate.settings import ConfigError, parse_settings

    def health(**raw: object) -> HealthThresholds:
        return parse_settings({"health": raw}).health.thresholds()

    th = health(
        down_unreachable_minutes=5, recovery_hold_minutes=0.5, degraded_unreachable_minutes=1, receiver_min_routes=3
    )
    assert th.down_unreachable == minutes(5) and th.recovery_hold == timedelta(seconds=30)
    assert th.receiver_min_routes == 3
    assert health(down_receipts_overdue=0).down_receipts_overdue is None
    assert health() == HealthThresholds()
    with pytest.raises(ConfigError, match=r"^health\.down_unreachable_minutes: must be a number"):
        health(down_unreachable_minutes="ten")
    with pytest.raises(ConfigError, match=r"^health\.down_unreachable: unknown key"):
        health(down_unreachable=10)
    with pytest.raises(ConfigError, match=r"^health\.degraded_refusal_rate"):
        health(degraded_refusal_rate=20)
