"""The on-call alert mail: the right person by the procedure's schedule, the facts, bounded repeats."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from edigate.alerts import AlertSettings, AlertThrottle, recipients_for
from edigate.health import (
    PENDING_COUNT_CAP,
    EventKind,
    HealthEvent,
    HealthMonitor,
    HealthState,
    RouteSignals,
    TypeSignals,
)
from tests.harness.alert_mail import compose_alert

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Copenhagen
OUH = "5790000000111"
KOLDING = "5790000000227"
NAMES = {OUH: "Odense Universitetshospital", KOLDING: "Kolding Kommune"}
RECIPIENTS = {"edi-support": "edi-support@rsyd.dk", "on-call": ["vagt@rsyd.dk", "vagt2@rsyd.dk"]}


def support_hours_fake(now: datetime) -> str:
    """Stands in for notify.policy.handled_by: support on weekdays 08-15 local (UTC+1 in November)."""
    local = now + timedelta(hours=1)
    return "edi-support" if local.weekday() < 5 and 8 <= local.hour < 15 else "on-call"


def down_event(at: datetime = T0 + timedelta(minutes=16), error: str = "HTTP 503 fra 2512489996") -> HealthEvent:
    """A route_down: the oldest of 12 pending messages is 15 min old (the receiver accepts nothing)."""
    monitor = HealthMonitor()
    sig = RouteSignals(
        OUH,
        KOLDING,
        pending_count=12,
        oldest_pending_at=at - timedelta(minutes=15),
        last_error=error,
        by_type={"XDIS17": TypeSignals(7, T0), "XDIS91": TypeSignals(5, T0)},
    )
    events = monitor.update([sig, RouteSignals("5790000000128", KOLDING)], at)
    (event,) = [e for e in events if e.is_down]
    return event


def test_down_mail_in_support_hours_goes_to_edi_support() -> None:
    event = down_event()
    mail = compose_alert(
        event,
        now=event.at,
        handled_by=support_hours_fake,
        recipients=RECIPIENTS,
        names=NAMES,
        type_names={"XDIS17": "Udskrivningsadvis"},
    )
    assert mail.to == ("edi-support@rsyd.dk",) and mail.handled_by == "edi-support"
    assert mail.kind == "alert" and mail.key == event.key
    assert mail.subject == "[edigate] NEDE: Odense Universitetshospital → Kolding Kommune"
    assert event.kind is EventKind.ROUTE_DOWN
    text = mail.text
    assert "Kolding Kommune (5790000000227)" in text
    assert "Siden:" in text and "23.11.2026 kl. 10:01" in text  # local time, since the first failure
    assert "Ventende meddelelser: 12" in text
    assert "Ældste meddelelse:" in text and "(15 min gammel)" in text
    assert "XDIS17 (Udskrivningsadvis), XDIS91" in text
    assert "Sidste fejl:" in text and "HTTP 503 fra [cpr]" in text
    assert "2512489996" not in text + mail.subject
    assert "EDI-support" in text


def test_same_event_at_night_goes_to_on_call() -> None:
    event = down_event()
    night = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
    mail = compose_alert(event, now=night, handled_by=support_hours_fake, recipients=RECIPIENTS)
    assert mail.to == ("vagt@rsyd.dk", "vagt2@rsyd.dk") and mail.handled_by == "on-call"
    assert "drifts- og ledelsesvagten" in mail.text


def test_handled_by_may_return_an_enum_and_missing_address_is_an_error() -> None:
    from enum import Enum

    class Handler(Enum):
        ON_CALL = "on-call"

    assert recipients_for(T0, lambda now: Handler.ON_CALL, RECIPIENTS)[0] == "on-call"
    with pytest.raises(ValueError, match="no address"):
        recipients_for(T0, lambda now: "on-call", {"edi-support": "a@b.dk"})


def test_a_pending_count_past_the_cap_reads_over() -> None:
    """The store counts pending messages up to PENDING_COUNT_CAP; beyond it the mail says "over", text and HTML."""
    event = replace(down_event(), pending_count=PENDING_COUNT_CAP + 1)
    mail = compose_alert(event, now=event.at, handled_by=support_hours_fake, recipients=RECIPIENTS)
    assert f"Ventende meddelelser: over {PENDING_COUNT_CAP}" in mail.text
    assert f"over {PENDING_COUNT_CAP}" in mail.html and str(PENDING_COUNT_CAP + 1) not in mail.text + mail.html
    exact = compose_alert(
        replace(event, pending_count=PENDING_COUNT_CAP),
        now=event.at,
        handled_by=support_hours_fake,
        recipients=RECIPIENTS,
    )
    assert f"Ventende meddelelser: {PENDING_COUNT_CAP}\n" in exact.text


def test_receiver_and_recovered_mails() -> None:
    monitor = HealthMonitor()
    routes = [f"57900001{i:05d}" for i in range(40)]
    t_fail = T0

    def sig(s: str, failing: bool) -> RouteSignals:
        if failing:
            return RouteSignals(
                s,
                KOLDING,
                pending_count=1,
                oldest_pending_at=t_fail,
                consecutive_failures=6,
                failing_since=t_fail,
                last_error="connection refused",
            )
        return RouteSignals(s, KOLDING)

    monitor.update([sig(s, True) for s in routes], T0)
    events = monitor.update([sig(s, True) for s in routes], T0 + timedelta(minutes=10))
    (down,) = [e for e in events if e.is_down]
    mail = compose_alert(down, now=down.at, handled_by=support_hours_fake, recipients=RECIPIENTS, names=NAMES)
    assert mail.subject == "[edigate] NEDE: Kolding Kommune (40 ruter)"
    assert mail.text.count(" → Kolding Kommune (5790000000227)") == 40
    assert "Ventende meddelelser: 40" in mail.text

    for m in range(11, 14):
        events = monitor.update([sig(s, False) for s in routes], T0 + timedelta(minutes=m))
    (rec,) = events
    assert rec.kind is EventKind.RECEIVER_RECOVERED
    mail = compose_alert(rec, now=rec.at, handled_by=support_hours_fake, recipients=RECIPIENTS, names=NAMES)
    assert mail.kind == "recovered"
    assert mail.subject == "[edigate] OK igen: Kolding Kommune (40 ruter)"
    assert "Nede siden: 23.11.2026 kl. 10:00" in mail.text
    assert "Varighed:" in mail.text and "13 min" in mail.text


def test_throttle_bounds_repeats() -> None:
    throttle = AlertThrottle(repeat_interval=timedelta(minutes=60), max_reminders=2)
    down = down_event(at=T0)
    assert throttle.admit(down, T0) is True
    assert throttle.due_reminders(T0 + timedelta(minutes=59)) == []
    assert throttle.due_reminders(T0 + timedelta(minutes=60)) == [down]
    assert throttle.due_reminders(T0 + timedelta(minutes=90)) == []
    assert throttle.due_reminders(T0 + timedelta(minutes=120)) == [down]
    assert throttle.due_reminders(T0 + timedelta(hours=10)) == []  # max_reminders reached
    recovered = _recovered_like(down, T0 + timedelta(hours=11))
    assert throttle.admit(recovered, recovered.at) is True
    assert throttle.admit(recovered, recovered.at) is False  # once
    assert throttle.outstanding() == []


def test_throttle_flapping_route_is_mailed_once_per_interval() -> None:
    throttle = AlertThrottle(repeat_interval=timedelta(minutes=30), max_reminders=3)
    sent = []
    t = T0
    for cycle in range(6):  # down 5 min, up 5 min, six times in one hour
        down = down_event(at=t)
        if throttle.admit(down, t):
            sent.append(("down", cycle))
        rec = _recovered_like(down, t + timedelta(minutes=5))
        if throttle.admit(rec, rec.at):
            sent.append(("recovered", cycle))
        t += timedelta(minutes=10)
    assert sent == [("down", 0), ("recovered", 0), ("down", 3), ("recovered", 3)]


def test_suppressed_down_is_announced_by_a_later_reminder() -> None:
    throttle = AlertThrottle(repeat_interval=timedelta(minutes=30))
    first = down_event(at=T0)
    assert throttle.admit(first, T0)
    assert throttle.admit(_recovered_like(first, T0 + timedelta(minutes=3)), T0 + timedelta(minutes=3))
    again = down_event(at=T0 + timedelta(minutes=10))
    assert not throttle.admit(again, again.at)  # flap: within the interval
    assert throttle.due_reminders(T0 + timedelta(minutes=30)) == [again]  # still down: now it is told
    assert throttle.admit(_recovered_like(again, T0 + timedelta(hours=2)), T0 + timedelta(hours=2))


def test_degraded_only_when_configured() -> None:
    degraded = HealthEvent(
        EventKind.DEGRADED, T0, KOLDING, ((OUH, KOLDING),), HealthState.DEGRADED, T0, 0, None, None, (), ()
    )
    assert not AlertThrottle().admit(degraded, T0)
    throttle = AlertThrottle(alert_on_degraded=True, repeat_interval=timedelta(minutes=60))
    assert throttle.admit(degraded, T0)
    assert not throttle.admit(degraded, T0 + timedelta(minutes=5))


def test_alert_settings_from_config() -> None:
    from edigate.settings import ConfigError, parse_settings

    def alerts(**raw: object) -> AlertSettings | None:
        return AlertSettings.from_section(parse_settings({"alerts": raw}).alerts)

    s = alerts(
        edi_support="edi@rsyd.dk", on_call=["a@rsyd.dk", "b@rsyd.dk"], repeat_interval_minutes=30, max_reminders=0
    )
    assert s is not None
    assert s.recipients == {"edi-support": ("edi@rsyd.dk",), "on-call": ("a@rsyd.dk", "b@rsyd.dk")}
    assert AlertThrottle.from_settings(s).due_reminders(T0 + timedelta(days=1)) == []
    assert alerts(edi_support="edi@rsyd.dk") is None  # no on-call address: no alert mails
    section = parse_settings({"alerts": {"edi_support": "edi@rsyd.dk"}}).alerts
    with_notify = AlertSettings.from_section(section, edi_support="x@rsyd.dk", on_call="vagt@rsyd.dk")
    assert with_notify is not None and with_notify.recipients["on-call"] == ("vagt@rsyd.dk",)
    assert with_notify.recipients["edi-support"] == ("edi@rsyd.dk",)
    with pytest.raises(ConfigError, match=r"^alerts\.edi_support\[0\]: must be a mail address"):
        alerts(edi_support="nobody", on_call="a@b.dk")


def _recovered_like(down: HealthEvent, at: datetime) -> HealthEvent:
    kind = EventKind.RECEIVER_RECOVERED if down.kind is EventKind.RECEIVER_DOWN else EventKind.ROUTE_RECOVERED
    return HealthEvent(
        kind, at, down.receiver, down.routes, down.state, down.since, 0, None, None, (), (), duration=at - down.since
    )
