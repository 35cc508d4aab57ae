"""On-call alert mails from route-health events: whether to mail, to whom, how often, and what about. Pure.

The alert mail is for IT staff, not a distribution-list notice, so it goes out at any hour. Who gets it is
the outage procedure's decision: the caller hands in ``handled_by(now)`` (``notify.policy.handled_by``), which
says ``edi-support`` inside EDI support hours and ``on-call`` (drifts- og ledelsesvagten) otherwise; support
hours are not written twice.

This module writes no text: it hands the outage procedure :class:`AlertFacts` (the gateway's terms: routes,
organisations, counts, times) through the port ``edigate.monitor.OutageProcedure``, and notify renders the
Danish mail from its templates (``notify/templates/mail/alert*``) and sends it through its one outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from edigate.config import AlertsSettings
from edigate.health import PENDING_COUNT_CAP, EventKind, HealthEvent, HealthState, route_key
from edigate.store.model import MissingReceiptAlert

__all__ = [
    "AlertFacts",
    "AlertKind",
    "AlertRoute",
    "AlertSettings",
    "AlertThrottle",
    "HandledBy",
    "MessageTypeSeen",
    "Party",
    "alert_facts",
    "receipts_overdue_facts",
    "recipients_for",
]

#: ``handled_by(now)`` returns one of these (a str, or an enum whose value is one): "edi-support" | "on-call"
HandledBy = Callable[[datetime], Any]


class AlertKind(StrEnum):
    """Which alert mail. The values are the kinds the notices-sent counter and the throttle speak of."""

    DOWN = "alert"  # a route or receiver went down (the first mail of an outage)
    REMINDER = "reminder"  # still down, repeat_interval later
    RECOVERED = "recovered"
    DEGRADED = "degraded"  # only with [alerts] alert_on_degraded
    RECEIPTS_OVERDUE = "receipts-overdue"  # delivered, but no receipt past the alert time


@dataclass(frozen=True)
class Party:
    """An organisation by its EAN, with its name from the partner directory when it has one."""

    ean: str
    name: str | None = None


@dataclass(frozen=True)
class AlertRoute:
    sender: Party
    receiver: Party


@dataclass(frozen=True)
class MessageTypeSeen:
    """A MedCom message type on the route (XDIS91), with its Danish name when known."""

    code: str
    name: str | None = None


@dataclass(frozen=True)
class AlertFacts:
    """Everything an alert mail says, in the gateway's terms and plain values; no text."""

    kind: AlertKind
    key: str  # HealthEvent.key (or receipts:<route>): one outage, across down/reminder/recovered
    at: datetime  # when the mail is written
    to: tuple[str, ...]
    handled_by: str  # "edi-support" | "on-call"
    receiver: Party
    whole_receiver: bool  # every route into the receiver (receiver down / receiver recovered)
    routes: tuple[AlertRoute, ...]
    since: datetime  # the first failure, or the oldest pending message
    still_down: tuple[AlertRoute, ...] = ()  # receiver recovered: routes still down on their own account
    recovered_at: datetime | None = None
    duration: timedelta | None = None
    state_now: str | None = None  # recovered, but not ok ("degraded")
    messages: int = 0  # pending (down), or without receipt (receipts overdue)
    messages_cap: int | None = None  # the count is exact up to here; above it, it says "more than this"
    oldest_message_at: datetime | None = None
    message_types: tuple[MessageTypeSeen, ...] = ()
    last_error: str | None = None  # the receiver's answer: free text, may hold anything
    reasons: tuple[str, ...] = ()  # the monitor's Danish reasons (edigate.health.Reason.text)
    draft_incident: bool = False  # a draft acute incident was opened for this outage just now
    incident_id: int | None = None  # the outage's incident: the notice belongs to it; down mails link it
    status_url: str | None = None  # the gateway's route status page
    subject_prefix: str = "[edigate]"


@dataclass(frozen=True)
class AlertSettings:
    """The alert mails' addresses and repeat bound, from ``[alerts]`` (and notify's addresses)."""

    edi_support: tuple[str, ...]
    on_call: tuple[str, ...]
    repeat_interval: timedelta = timedelta(minutes=60)
    max_reminders: int | None = 3
    alert_on_degraded: bool = False
    subject_prefix: str = "[edigate]"

    @property
    def recipients(self) -> dict[str, tuple[str, ...]]:
        return {"edi-support": self.edi_support, "on-call": self.on_call}

    @classmethod
    def from_section(
        cls, section: AlertsSettings, *, edi_support: str | None = None, on_call: str | None = None
    ) -> AlertSettings | None:
        """`[alerts]`, its two addresses defaulting to notify's; None (no alert mails) without both."""
        edi = section.edi_support or ((edi_support,) if edi_support else None)
        duty = section.on_call or ((on_call,) if on_call else None)
        if not edi or not duty:
            return None
        return cls(
            edi_support=edi,
            on_call=duty,
            repeat_interval=timedelta(minutes=section.repeat_interval_minutes),
            max_reminders=section.max_reminders,
            alert_on_degraded=section.alert_on_degraded,
            subject_prefix=section.subject_prefix,
        )


def _handler(value: Any) -> str:
    return str(getattr(value, "value", value))


def recipients_for(
    now: datetime, handled_by: HandledBy, recipients: Mapping[str, str | Sequence[str]]
) -> tuple[str, tuple[str, ...]]:
    """(handler, addresses) for an alert at ``now``, by the outage procedure's schedule."""
    handler = _handler(handled_by(now))
    try:
        value = recipients[handler]
    except KeyError:
        raise ValueError(f"alerts: no address for handler {handler!r}") from None
    addresses = (value,) if isinstance(value, str) else tuple(value)
    return handler, addresses


def _party(ean: str, names: Mapping[str, str]) -> Party:
    return Party(ean, names.get(ean) or None)


def _route(route: tuple[str, str], names: Mapping[str, str]) -> AlertRoute:
    return AlertRoute(_party(route[0], names), _party(route[1], names))


def _kind(event: HealthEvent, reminder: bool) -> AlertKind:
    if event.is_recovery:
        return AlertKind.RECOVERED
    if event.kind is EventKind.DEGRADED:
        return AlertKind.DEGRADED
    return AlertKind.REMINDER if reminder else AlertKind.DOWN


def alert_facts(
    event: HealthEvent,
    *,
    now: datetime,
    handled_by: HandledBy,
    recipients: Mapping[str, str | Sequence[str]],
    names: Mapping[str, str] | None = None,
    type_names: Mapping[str, str] | None = None,
    reminder: bool = False,
    subject_prefix: str = "[edigate]",
    status_url: str | None = None,
    draft_incident: bool = True,
    incident_id: int | None = None,
) -> AlertFacts:
    """What the alert (or recovered, or reminder) mail for one health event says, as facts; notify writes it.

    ``names`` maps EAN -> organisation name from the partner directory, ``type_names`` MedCom type ->
    Danish name (XDIS91 -> Korrespondancemeddelelse); both optional. ``draft_incident``: a draft acute
    incident was opened for this outage (said in the first down mail only); ``incident_id`` links the mail
    to the incident while the outage lasts.
    """
    names = names or {}
    type_names = type_names or {}
    handler, to = recipients_for(now, handled_by, recipients)
    kind = _kind(event, reminder)
    return AlertFacts(
        kind=kind,
        key=event.key,
        at=now,
        to=to,
        handled_by=handler,
        receiver=_party(event.receiver, names),
        whole_receiver=event.kind in (EventKind.RECEIVER_DOWN, EventKind.RECEIVER_RECOVERED),
        routes=tuple(_route(r, names) for r in event.routes),
        still_down=tuple(_route(r, names) for r in event.still_down),
        since=event.since,
        recovered_at=event.at if event.is_recovery else None,
        duration=event.duration,
        state_now=None if not event.is_recovery or event.state is HealthState.OK else str(event.state),
        messages=event.pending_count,
        messages_cap=PENDING_COUNT_CAP,  # the store counts pending messages that far (edigate.health)
        oldest_message_at=event.oldest_pending_at,
        message_types=tuple(MessageTypeSeen(t, type_names.get(t)) for t in event.message_types),
        last_error=event.last_error,
        reasons=tuple(r.text for r in event.reasons),
        draft_incident=draft_incident and kind is AlertKind.DOWN,
        incident_id=incident_id,
        status_url=status_url,
        subject_prefix=subject_prefix,
    )


def receipts_overdue_facts(
    alerts: Sequence[MissingReceiptAlert],
    *,
    now: datetime,
    handler: str,
    to: Sequence[str],
    names: Mapping[str, str],
    type_names: Mapping[str, str],
    subject_prefix: str = "[edigate]",
    status_url: str | None = None,
) -> list[AlertFacts]:
    """One mail's facts per route whose receipts (pluspositivkvitt) are missing past the alert time: the
    route, the count, the types and the oldest sending time; never a CPR, a name or a body."""
    by_route: dict[tuple[str, str], list[MissingReceiptAlert]] = {}
    for alert in alerts:
        by_route.setdefault((alert.sender_ean, alert.receiver_ean), []).append(alert)
    facts = []
    for (sender, receiver), group in sorted(by_route.items()):
        route = _route((sender, receiver), names)
        facts.append(
            AlertFacts(
                kind=AlertKind.RECEIPTS_OVERDUE,
                key=f"receipts:{route_key(sender, receiver)}",
                at=now,
                to=tuple(to),
                handled_by=handler,
                receiver=route.receiver,
                whole_receiver=False,
                routes=(route,),
                since=min(a.created_at for a in group),
                messages=len(group),
                oldest_message_at=min(a.created_at for a in group),
                message_types=tuple(MessageTypeSeen(t, type_names.get(t)) for t in sorted({a.type for a in group})),
                status_url=status_url,
                subject_prefix=subject_prefix,
            )
        )
    return facts


# ---------------------------------------------------------------------------------------------- throttle


@dataclass
class _Outstanding:
    event: HealthEvent
    last_sent: datetime | None
    announced: bool
    reminders: int = 0


@dataclass
class AlertThrottle:
    """Bounds the alert mails. Pure: time is a parameter, the state lives in this object.

    * a *down* event is mailed unless a down mail for the same key went out less than ``repeat_interval``
      ago (a flapping route); a suppressed one is still remembered, so a reminder announces it later;
    * a *recovered* event is mailed only if its down was announced, and then once;
    * while something stays down, :meth:`due_reminders` yields it again every ``repeat_interval``, at most
      ``max_reminders`` times (None: no bound; 0: never);
    * routes covered by a down receiver get no reminders of their own;
    * *degraded* events are mailed only with ``alert_on_degraded``, at most once per ``repeat_interval``.
    """

    repeat_interval: timedelta = timedelta(minutes=60)
    max_reminders: int | None = 3
    alert_on_degraded: bool = False
    _outstanding: dict[str, _Outstanding] = field(default_factory=dict)
    _last_down_mail: dict[str, datetime] = field(default_factory=dict)
    _last_degraded_mail: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: AlertSettings) -> AlertThrottle:
        return cls(settings.repeat_interval, settings.max_reminders, settings.alert_on_degraded)

    def admit(self, event: HealthEvent, now: datetime) -> bool:
        """Should a mail go out for this event? Records the decision."""
        key = event.key
        if event.is_down:
            last = self._last_down_mail.get(key)
            send = last is None or now - last >= self.repeat_interval
            self._outstanding[key] = _Outstanding(event, now if send else last, announced=send)
            if send:
                self._last_down_mail[key] = now
            return send
        if event.is_recovery:
            entry = self._outstanding.pop(key, None)
            if event.kind is EventKind.RECEIVER_RECOVERED:
                for route in event.routes:
                    self._outstanding.pop(f"route:{route[0]}->{route[1]}", None)
                announced = entry is not None and entry.announced
                for route in event.still_down:  # told in this mail: their own recovery will be mailed
                    rkey = f"route:{route[0]}->{route[1]}"
                    if announced and rkey not in self._outstanding:
                        self._outstanding[rkey] = _Outstanding(event, now, announced=True)
            return entry is not None and entry.announced
        if event.kind is EventKind.DEGRADED and self.alert_on_degraded:
            last = self._last_degraded_mail.get(key)
            if last is None or now - last >= self.repeat_interval:
                self._last_degraded_mail[key] = now
                return True
        return False

    def due_reminders(self, now: datetime) -> list[HealthEvent]:
        """Down events to remind about now (compose them with ``reminder=True``); records them as sent.

        The events are the original ones; for fresh numbers use ``HealthMonitor.current(event.key)``.
        """
        if self.max_reminders == 0:
            return []
        receivers_down = {k.split(":", 1)[1] for k in self._outstanding if k.startswith("receiver:")}
        due: list[HealthEvent] = []
        for key, entry in sorted(self._outstanding.items()):
            if not entry.event.is_down:
                continue
            if key.startswith("route:") and entry.event.receiver in receivers_down:
                continue
            if self.max_reminders is not None and entry.reminders >= self.max_reminders:
                continue
            if entry.last_sent is not None and now - entry.last_sent < self.repeat_interval:
                continue
            entry.last_sent = now
            entry.reminders += 0 if not entry.announced else 1
            entry.announced = True
            self._last_down_mail[key] = now
            due.append(entry.event)
        return due

    def outstanding(self) -> list[str]:
        """Keys whose down is not yet recovered (for the status page / debugging)."""
        return sorted(self._outstanding)
