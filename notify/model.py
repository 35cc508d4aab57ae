"""The outage procedure's records: incidents, their updates, notices, outbox rows, subscriptions, audit.

Plain frozen dataclasses so that storage, scheduler, web and templates share one vocabulary and nothing
depends on how a row is stored. All datetimes are aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Kind = Literal["acute", "planned"]
State = Literal["draft", "open", "resolved", "closed"]  # closed: a draft that ended unconfirmed
Role = Literal["eoj", "regional-it"]
NoticeKind = Literal["first", "update", "resolved", "combined", "reminder", "receipt", "reporter-resolved", "confirm"]
LIST_NOTICE_KINDS: frozenset[str] = frozenset({"first", "update", "resolved", "combined"})
Channel = Literal["mail", "webhook"]
OutboxStatus = Literal["pending", "sent", "refused", "failed"]

KINDS: tuple[str, ...] = ("acute", "planned")
ROLES: tuple[str, ...] = ("eoj", "regional-it")


@dataclass(frozen=True)
class Organisation:
    """A partner as notify sees it: the owner of one functional mailbox on the distribution lists."""

    ean: str
    name: str
    kind: str  # hospital | municipality | gp | region
    clusters: tuple[str, ...] = ()
    mailbox: str | None = None


@dataclass(frozen=True)
class ContactPerson:
    name: str
    phone: str
    email: str


@dataclass(frozen=True)
class NewIncident:
    """What a reporter (or the health monitor) files; validated before it reaches storage."""

    kind: Kind
    state: State
    reporting_organisation: str
    role: Role
    reported_by: str
    source: str  # form | api | monitor
    cause: str
    affected_messages: tuple[str, ...]
    affected_organisations: tuple[str, ...]
    start: datetime
    expected_end: datetime
    reported_at: datetime
    contact: ContactPerson


@dataclass(frozen=True)
class Incident:
    id: int
    kind: Kind
    state: State
    reporting_organisation: str
    role: Role
    reported_by: str
    source: str
    cause: str
    affected_messages: tuple[str, ...]
    affected_organisations: tuple[str, ...]
    start: datetime
    expected_end: datetime
    reported_at: datetime
    contact: ContactPerson
    resolved_at: datetime | None = None
    last_update_at: datetime | None = None
    last_reminder_at: datetime | None = None
    settled: bool = False  # resolved and nothing more will ever be sent

    @property
    def confirmed(self) -> bool:
        """Confirmed by a person. A draft, and a draft closed before anyone confirmed it, stay internal."""
        return self.state not in ("draft", "closed")

    @property
    def ended(self) -> bool:
        return self.state in ("resolved", "closed")


@dataclass(frozen=True)
class IncidentUpdate:
    id: int
    incident_id: int
    at: datetime
    author: str
    text: str
    expected_end: datetime | None  # a revised estimate, or None when only the status text changed


@dataclass(frozen=True)
class Recipient:
    """One address a notice goes to, and why (the list, organisation or subscription that chose it)."""

    address: str
    source: str  # e.g. "liste:sygehuse", "kommune:<EAN>", "abonnement:<id>", "vagt:edi-support", "indberetter"
    subscription_id: int | None = None


@dataclass(frozen=True)
class Notice:
    id: int
    incident_id: int | None
    kind: str
    dedupe_key: str
    created_at: datetime
    subject: str
    next_status_at: datetime | None = None


@dataclass(frozen=True)
class AlertMailKey:
    """What makes an IT alert mail one mail, as its notice's `dedupe_key`: the notice kind (`alert`,
    `alert-recovered`, …), the gateway's alert key (`HealthEvent.key`) and the moment. The gateway port
    writes it and the storage finds a key's alerts by `prefix`: the text form is written here only."""

    kind: str
    key: str
    at: datetime

    def __str__(self) -> str:
        return self.prefix(self.kind, self.key) + self.at.isoformat()

    @staticmethod
    def prefix(kind: str, key: str) -> str:
        """What every alert mail key of this kind and alert key starts with (the moment follows)."""
        return f"{kind}:{key}:"


@dataclass(frozen=True)
class NewOutboxRow:
    channel: Channel
    address: str  # mail address or webhook URL
    source: str
    subject: str
    body_text: str = ""
    body_html: str = ""
    payload: str = ""  # webhook JSON
    subscription_id: int | None = None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    notice_id: int
    incident_id: int | None
    channel: Channel
    address: str
    source: str
    subject: str
    body_text: str
    body_html: str
    payload: str
    subscription_id: int | None
    message_id: str
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
    notice_kind: str = ""


@dataclass(frozen=True)
class OutboxCounts:
    """The outbox and the open incidents, counted for the gateway's gauges (read-only)."""

    pending: int  # mail rows waiting
    failed: int  # mail rows failed or refused
    incidents_open: Mapping[str, int]  # incident kind -> draft or open
    #: (channel, notice kind) -> rows failed or refused, mail and webhooks (for the support desk's gauge)
    failed_by_kind: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Subscription:
    id: int
    email: str
    organisations: tuple[str, ...]
    clusters: tuple[str, ...]
    message_types: tuple[str, ...]
    state: Literal["pending", "confirmed", "removed"]
    confirm_token: str
    unsubscribe_token: str
    created_at: datetime
    created_by: str
    confirmed_at: datetime | None = None
    removed_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    detail: str = ""
    incident_id: int | None = None
    subscription_id: int | None = None
    id: int | None = field(default=None, compare=False)
