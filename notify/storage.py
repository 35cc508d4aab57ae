"""The storage the outage procedure needs, as a Protocol; `edigate.store.notify_store` implements it in SQL.

Every method that writes more than one row does so in one transaction, so an incident is never stored
without its audit entry and a notice never without its outbox rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from notify.model import (
    AuditEntry,
    Incident,
    IncidentUpdate,
    NewIncident,
    NewOutboxRow,
    Notice,
    OutboxCounts,
    OutboxRow,
    Subscription,
)


class NotifyStorage(Protocol):
    # incidents
    async def create_incident(self, new: NewIncident, audit: Sequence[AuditEntry]) -> Incident: ...
    async def get_incident(self, incident_id: int) -> Incident | None: ...
    async def list_incidents(self, *, since: datetime | None = None, limit: int = 500) -> list[Incident]: ...
    async def count_incidents(self) -> int: ...
    async def active_incidents(self) -> list[Incident]:
        """Confirmed incidents the scheduler still has to look at (open, or resolved but not settled)."""
        ...

    async def confirm_incident(self, incident_id: int, audit: Sequence[AuditEntry]) -> Incident: ...
    async def add_update(
        self,
        incident_id: int,
        at: datetime,
        author: str,
        text: str,
        expected_end: datetime | None,
        audit: Sequence[AuditEntry],
    ) -> Incident: ...
    async def resolve_incident(
        self, incident_id: int, at: datetime, author: str, text: str, audit: Sequence[AuditEntry]
    ) -> Incident: ...
    async def set_scope(
        self, incident_id: int, affected_organisations: Sequence[str], audit: Sequence[AuditEntry]
    ) -> Incident:
        """Replace the affected organisations (the desk widening or narrowing the scope)."""
        ...

    async def set_reminded(self, incident_id: int, at: datetime, audit: Sequence[AuditEntry]) -> None: ...
    async def set_settled(self, incident_id: int) -> None: ...
    async def updates_for(self, incident_id: int) -> list[IncidentUpdate]: ...

    # notices and the outbox
    async def record_notice(
        self,
        *,
        incident_id: int | None,
        kind: str,
        dedupe_key: str,
        created_at: datetime,
        subject: str,
        next_status_at: datetime | None,
        rows: Sequence[NewOutboxRow],
        audit: Sequence[AuditEntry],
        not_before: datetime,
    ) -> Notice | None:
        """Store a notice with all its outbox rows; None (and nothing written) if `dedupe_key` exists."""
        ...

    async def notices_for(self, incident_id: int) -> list[Notice]: ...
    async def outbox_for(self, incident_id: int) -> list[OutboxRow]: ...
    async def claim_outbox(
        self, now: datetime, *, channel: str, owner: str, lease_until: datetime, limit: int = 100
    ) -> list[OutboxRow]:
        """Atomically lease due pending rows nobody holds (or whose lease ran out) to `owner`.

        Two senders (two leaders for a moment) never get the same row while its lease lasts."""
        ...

    async def renew_outbox(self, row_id: int, *, owner: str, lease_until: datetime) -> bool:
        """Extend `owner`'s lease right before a send; False if the row is no longer ours to send."""
        ...

    async def release_outbox(self, owner: str) -> int:
        """Give back `owner`'s leases on rows still pending (end of a pass, shutdown)."""
        ...

    async def recover_outbox(self) -> int:
        """Startup: free leases left by a process that died, where only one process can use the database."""
        ...

    async def failed_outbox(self, *, limit: int = 200) -> list[OutboxRow]:
        """Rows that will not be sent (failed or refused), newest first: for the EDI support desk."""
        ...

    # The marks below change a row only for the holder of its lease (True if they did) and clear the lease.
    async def mark_sent(self, row_id: int, at: datetime, *, owner: str) -> bool: ...
    async def mark_refused(self, row_id: int, error: str, audit: Sequence[AuditEntry], *, owner: str) -> bool: ...
    async def mark_retry(self, row_id: int, error: str, next_attempt_at: datetime, *, owner: str) -> bool: ...
    async def mark_failed(self, row_id: int, error: str, audit: Sequence[AuditEntry], *, owner: str) -> bool: ...

    # what the gateway's health loop reads (None / (None, None) when the procedure's tables are absent)
    async def outbox_counts(self) -> OutboxCounts | None:
        """Mail outbox pending/failed, failed rows by channel and notice kind, open incidents by kind."""
        ...

    async def sent_mail_counts(self) -> dict[str, int] | None:
        """Mails sent so far, by notice kind."""
        ...

    async def last_alerts(self, key: str) -> tuple[datetime | None, datetime | None]:
        """(newest alert, newest alert-recovered) notice queued for a gateway alert key."""
        ...

    # subscriptions
    async def create_subscription(
        self,
        *,
        email: str,
        organisations: Sequence[str],
        clusters: Sequence[str],
        message_types: Sequence[str],
        confirm_token: str,
        unsubscribe_token: str,
        created_at: datetime,
        created_by: str,
        confirmed: bool,
        audit: Sequence[AuditEntry],
    ) -> Subscription: ...
    async def subscription_by_token(
        self, *, confirm_token: str = "", unsubscribe_token: str = ""
    ) -> Subscription | None: ...
    async def get_subscription(self, subscription_id: int) -> Subscription | None: ...
    async def confirm_subscription(
        self, subscription_id: int, at: datetime, audit: Sequence[AuditEntry]
    ) -> Subscription: ...
    async def remove_subscription(
        self, subscription_id: int, at: datetime, audit: Sequence[AuditEntry]
    ) -> Subscription: ...
    async def list_subscriptions(self, *, include_removed: bool = False) -> list[Subscription]: ...
    async def pending_subscription(self, email: str, *, since: datetime) -> Subscription | None:
        """A pending (unconfirmed) subscription for `email` (any case) created at or after `since`."""
        ...

    # audit
    async def add_audit(self, audit: Sequence[AuditEntry]) -> None: ...
    async def audit_for(
        self, *, incident_id: int | None = None, subscription_id: int | None = None
    ) -> list[AuditEntry]: ...
