"""The gateway's IT alert mails (route down, reminder, recovered, degraded, receipts overdue), written by the
outage procedure from its own templates (`templates/mail/alert.*`, `alert_receipts.*`).

The gateway hands over facts, not text (`edigate.alerts.AlertFacts`, through `notify.gateway_port`). Notify
imports nothing of edigate, so the protocols below say which of those facts it reads; mypy checks that the
gateway's frozen dataclasses fit them where `edigate.app` connects the two.

No CPR number ever: the free-text facts (the receiver's last answer, names) could carry one, so every
rendered subject and body passes `notify.cpr.redact_cpr` before it is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from notify.cpr import contains_cpr, redact_cpr
from notify.model import NewOutboxRow
from notify.render import Renderer

__all__ = ["ALERT_NOTICE_KIND", "AlertFacts", "alert_rows", "alert_subject"]

#: alert kind -> notice kind in the outbox (kept apart from the procedure's list notices); the gateway's
#: notices-sent counter and its restart check read these kinds back
ALERT_NOTICE_KIND = {
    "alert": "alert",
    "reminder": "alert-reminder",
    "recovered": "alert-recovered",
    "degraded": "alert-degraded",
    "receipts-overdue": "alert",
}


class Party(Protocol):
    @property
    def ean(self) -> str: ...
    @property
    def name(self) -> str | None: ...


class AlertRoute(Protocol):
    @property
    def sender(self) -> Party: ...
    @property
    def receiver(self) -> Party: ...


class MessageTypeSeen(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str | None: ...


class AlertFacts(Protocol):
    """What notify reads of the gateway's alert facts (see `edigate.alerts.AlertFacts` for their meaning)."""

    @property
    def kind(self) -> str: ...  # a key of ALERT_NOTICE_KIND
    @property
    def key(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def to(self) -> Sequence[str]: ...
    @property
    def handled_by(self) -> str: ...
    @property
    def receiver(self) -> Party: ...
    @property
    def whole_receiver(self) -> bool: ...
    @property
    def routes(self) -> Sequence[AlertRoute]: ...
    @property
    def since(self) -> datetime: ...
    @property
    def still_down(self) -> Sequence[AlertRoute]: ...
    @property
    def recovered_at(self) -> datetime | None: ...
    @property
    def duration(self) -> timedelta | None: ...
    @property
    def state_now(self) -> str | None: ...
    @property
    def messages(self) -> int: ...
    @property
    def messages_cap(self) -> int | None: ...
    @property
    def oldest_message_at(self) -> datetime | None: ...
    @property
    def message_types(self) -> Sequence[MessageTypeSeen]: ...
    @property
    def last_error(self) -> str | None: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def draft_incident(self) -> bool: ...
    @property
    def incident_id(self) -> int | None: ...
    @property
    def status_url(self) -> str | None: ...
    @property
    def subject_prefix(self) -> str: ...


def _short(party: Party) -> str:
    return party.name or party.ean


def _what(facts: AlertFacts) -> str:
    """What the subject names: the receiver (with its count of routes) or the one route."""
    receiver = _short(facts.receiver)
    if facts.whole_receiver:
        n = len(facts.routes) + len(facts.still_down)
        return f"{receiver} ({n} {'rute' if n == 1 else 'ruter'})"
    if len(facts.routes) == 1:
        return f"{_short(facts.routes[0].sender)} → {receiver}"
    return f"{receiver} ({len(facts.routes)} ruter)"


LABEL = {"alert": "NEDE", "reminder": "PÅMINDELSE, stadig nede", "recovered": "OK igen", "degraded": "Forstyrret"}


def alert_subject(facts: AlertFacts) -> str:
    if facts.kind == "receipts-overdue":
        route = facts.routes[0]
        noun = "meddelelse" if facts.messages == 1 else "meddelelser"
        what = f"{_short(route.sender)} → {_short(route.receiver)} ({facts.messages} {noun})"
        return f"{facts.subject_prefix} KVITTERING MANGLER: {what}"
    return f"{facts.subject_prefix} {LABEL[facts.kind]}: {_what(facts)}".strip()


def _scrub(text: str) -> str:
    return redact_cpr(text) if contains_cpr(text) else text


def alert_rows(renderer: Renderer, facts: AlertFacts, public_url: str) -> tuple[str, list[NewOutboxRow]]:
    """(subject, one outbox row per address) for an alert mail; text and HTML from the templates."""
    if facts.kind not in ALERT_NOTICE_KIND:
        raise ValueError(f"alert mail: unknown kind {facts.kind!r} (known: {', '.join(ALERT_NOTICE_KIND)})")
    subject = _scrub(alert_subject(facts))
    template = "mail/alert_receipts" if facts.kind == "receipts-overdue" else "mail/alert"
    context = {"facts": facts, "subject": subject, "public_url": public_url.rstrip("/")}
    text = _scrub(renderer.render(f"{template}.txt", context))
    html = _scrub(renderer.render(f"{template}.html", context))
    source = f"vagt:{facts.handled_by}"
    return subject, [NewOutboxRow("mail", address, source, subject, text, html) for address in facts.to]
