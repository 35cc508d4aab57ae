"""On-call alert mails from route-health events: what to write, to whom, and how often. Pure.

The alert mail is for IT staff, not a distribution-list notice, so it goes out at any hour. Who gets it is
the outage procedure's decision: the caller hands in ``handled_by(now)`` (``notify.policy.handled_by``), which
says ``edi-support`` inside EDI support hours and ``on-call`` (drifts- og ledelsesvagten) otherwise; support
hours are not written twice. The sending (outbox, SMTP) is the app's job.

No CPR number ever: every text passes :func:`edigate.logging.scrub_text` before it leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from edigate.config import AlertsSettings
from edigate.health import EventKind, HealthEvent, HealthState, pending_text
from edigate.logging import scrub_text

__all__ = [
    "HANDLER_NAMES",
    "AlertMail",
    "AlertSettings",
    "AlertThrottle",
    "HandledBy",
    "compose_alert",
    "recipients_for",
]

COPENHAGEN = ZoneInfo("Europe/Copenhagen")

#: ``handled_by(now)`` returns one of these (a str, or an enum whose value is one)
HandledBy = Callable[[datetime], Any]
HANDLER_NAMES = {
    "edi-support": "EDI-support (inden for supporttiden)",
    "on-call": "drifts- og ledelsesvagten (uden for EDI-supportens åbningstid)",
}


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


@dataclass(frozen=True)
class AlertMail:
    to: tuple[str, ...]
    subject: str
    text: str
    handled_by: str  # "edi-support" | "on-call"
    key: str  # HealthEvent.key
    kind: str  # "alert" | "recovered" | "reminder" | "degraded" (the notice kind for metrics)


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


def _local(t: datetime, tz: ZoneInfo) -> str:
    return t.astimezone(tz).strftime("%d.%m.%Y kl. %H:%M")


def _duration(d: timedelta) -> str:
    minutes = max(0, int(d.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} t {minutes} min"
    return f"{hours // 24} døgn {hours % 24} t"


def _routes_down_text(n: int) -> str:
    """No "Alle 1 ruter": one route is named as the only one."""
    if n == 1:
        return "Den eneste rute ind til den er markeret nede."
    return f"Alle {n} ruter ind til den er markeret nede."


def _org(ean: str, names: Mapping[str, str]) -> str:
    name = names.get(ean)
    return f"{name} ({ean})" if name else ean


def _short(ean: str, names: Mapping[str, str]) -> str:
    return names.get(ean) or ean


def compose_alert(
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
    tz: ZoneInfo = COPENHAGEN,
) -> AlertMail:
    """The Danish alert (or recovered, or reminder) mail for one health event.

    ``names`` maps EAN -> organisation name from the partner directory, ``type_names`` MedCom type ->
    Danish name (XDIS91 -> Korrespondancemeddelelse); both optional. ``draft_incident`` says in the
    down mail that a draft acute incident was opened (automatic outage detection).
    """
    names = names or {}
    type_names = type_names or {}
    handler, to = recipients_for(now, handled_by, recipients)
    receiver = _short(event.receiver, names)
    receiver_level = event.kind in (EventKind.RECEIVER_DOWN, EventKind.RECEIVER_RECOVERED)
    if receiver_level:
        n = len(event.routes) + len(event.still_down)
        what = f"{receiver} ({n} {'rute' if n == 1 else 'ruter'})"
    elif len(event.routes) == 1:
        what = f"{_short(event.routes[0][0], names)} → {receiver}"
    else:
        what = f"{receiver} ({len(event.routes)} ruter)"

    if event.is_recovery:
        label, kind = "OK igen", "recovered"
    elif event.kind is EventKind.DEGRADED:
        label, kind = "Forstyrret", "degraded"
    elif reminder:
        label, kind = "PÅMINDELSE, stadig nede", "reminder"
    else:
        label, kind = "NEDE", "alert"
    subject = f"{subject_prefix} {label}: {what}".strip()

    lines: list[str] = []
    if event.kind is EventKind.RECEIVER_DOWN:
        lines.append(
            f"Modtageren {_org(event.receiver, names)} modtager ikke meddelelser. "
            + _routes_down_text(len(event.routes))
        )
    elif event.kind is EventKind.RECEIVER_RECOVERED:
        lines.append(f"Modtageren {_org(event.receiver, names)} modtager igen meddelelser.")
    elif event.kind is EventKind.ROUTE_RECOVERED:
        lines.append(f"Ruten {_route_text(event.routes[0], names)} virker igen.")
    elif event.kind is EventKind.DEGRADED:
        lines.append(f"Leveringen til {_org(event.receiver, names)} er forstyrret.")
    else:
        lines.append(f"Ruten {_route_text(event.routes[0], names)} er nede.")
    lines.append("")

    rows: list[tuple[str, str]] = []
    if event.is_recovery:
        rows.append(("Nede siden", _local(event.since, tz)))
        rows.append(("OK igen", _local(event.at, tz)))
        if event.duration is not None:
            rows.append(("Varighed", _duration(event.duration)))
        if event.state is not HealthState.OK:
            rows.append(("Tilstand nu", str(event.state)))
    else:
        rows.append(("Siden", f"{_local(event.since, tz)} ({_duration(now - event.since)} siden)"))
        rows.append(("Ventende meddelelser", pending_text(event.pending_count)))
        if event.oldest_pending_at is not None:
            age = now - event.oldest_pending_at
            oldest = f"{_local(event.oldest_pending_at, tz)} ({_duration(age)} gammel)"
            rows.append(("Ældste meddelelse", oldest))
        if event.message_types:
            types = ", ".join(f"{t} ({type_names[t]})" if t in type_names else t for t in event.message_types)
            rows.append(("Meddelelsestyper", types))
        rows.append(("Sidste fejl", event.last_error or "(ingen registreret)"))
    width = max(len(k) for k, _ in rows) + 1
    lines += [f"{(k + ':').ljust(width)} {v}" for k, v in rows]

    if event.reasons and not event.is_recovery:
        lines += ["", "Årsager:"] + [f"  - {r.text}" for r in event.reasons]
    if receiver_level or len(event.routes) > 1:
        title = "Ruter der virker igen:" if event.is_recovery else "Berørte ruter:"
        if event.routes:
            lines += ["", title] + [f"  - {_route_text(r, names)}" for r in event.routes]
    if event.still_down:
        lines += ["", "Stadig nede (egen fejl):"] + [f"  - {_route_text(r, names)}" for r in event.still_down]

    lines += ["", f"Håndteres af: {HANDLER_NAMES.get(handler, handler)}."]
    if event.is_down and not reminder and draft_incident:
        lines.append("Et udkast til en akut nedbrudsmelding er oprettet; bekræft eller ret det i formularen.")
    if status_url:
        lines.append(f"Status: {status_url}")
    lines += [
        "",
        "Denne driftsalarm er til IT og sendes på alle tider af døgnet; den er ikke en meddelelse til "
        "fordelingslisterne. Den indeholder ingen personoplysninger.",
    ]
    return AlertMail(
        to=to,
        subject=scrub_text(subject),
        text=scrub_text("\n".join(lines) + "\n"),
        handled_by=handler,
        key=event.key,
        kind=kind,
    )


def _route_text(route: tuple[str, str], names: Mapping[str, str]) -> str:
    return f"{_org(route[0], names)} → {_org(route[1], names)}"


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
