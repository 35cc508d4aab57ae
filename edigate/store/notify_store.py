"""SQL implementation of `notify.storage.NotifyStorage` (SQLAlchemy Core, async; SQLite and PostgreSQL).

Times are the gateway's `UtcDateTime` (aware UTC in and out), like every other table (migration 0002).
Multi-row writes run in one transaction (`engine.begin()`), so nothing is half-stored. A notice's
`dedupe_key` is unique: two scheduler instances racing for the same notice store it once. Outbox rows are
leased to one sender at a time (`claim_outbox`), so two senders racing for the same rows never both send one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from edigate.store.db import Database
from edigate.store.schema import UtcDateTime
from notify.model import (
    AlertMailKey,
    AuditEntry,
    ContactPerson,
    Incident,
    IncidentUpdate,
    NewIncident,
    NewOutboxRow,
    Notice,
    OutboxCounts,
    OutboxRow,
    Subscription,
)

metadata = sa.MetaData()

incidents = sa.Table(
    "notify_incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reporting_organisation", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("reported_by", sa.String(200), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("affected_messages", sa.Text, nullable=False),
    sa.Column("affected_organisations", sa.Text, nullable=False),
    sa.Column("start", UtcDateTime, nullable=False),
    sa.Column("expected_end", UtcDateTime, nullable=False),
    sa.Column("reported_at", UtcDateTime, nullable=False),
    sa.Column("contact_name", sa.String(200), nullable=False),
    sa.Column("contact_phone", sa.String(64), nullable=False),
    sa.Column("contact_email", sa.String(254), nullable=False),
    sa.Column("resolved_at", UtcDateTime),
    sa.Column("last_update_at", UtcDateTime),
    sa.Column("last_reminder_at", UtcDateTime),
    sa.Column("settled", sa.Boolean, nullable=False, default=False),
)
sa.Index("ix_notify_incidents_reported_at", incidents.c.reported_at)

updates = sa.Table(
    "notify_updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("notify_incidents.id"), nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("expected_end", UtcDateTime),
)

notices = sa.Table(
    "notify_notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("notify_incidents.id"), index=True),
    # 32: "reporter-resolved" is 17 characters (PostgreSQL enforces the length)
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("next_status_at", UtcDateTime),
)

outbox = sa.Table(
    "notify_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notice_id", sa.Integer, sa.ForeignKey("notify_notices.id"), nullable=False, index=True),
    sa.Column("incident_id", sa.Integer, index=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("subscription_id", sa.Integer),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", UtcDateTime),
    # the per-row claim of one sender: nobody else sends the row before lease_until
    sa.Column("lease_until", UtcDateTime),
    sa.Column("leased_by", sa.String(200)),
)
sa.Index("ix_notify_outbox_due", outbox.c.status, outbox.c.next_attempt_at)

subscriptions = sa.Table(
    "notify_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("organisations", sa.Text, nullable=False),
    sa.Column("clusters", sa.Text, nullable=False),
    sa.Column("message_types", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("confirm_token", sa.String(64), nullable=False, unique=True),
    sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("confirmed_at", UtcDateTime),
    sa.Column("removed_at", UtcDateTime),
)

audit_log = sa.Table(
    "notify_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("incident_id", sa.Integer, index=True),
    sa.Column("subscription_id", sa.Integer, index=True),
)


def _codes(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def _incident(row: Any) -> Incident:
    return Incident(
        id=row.id,
        kind=row.kind,
        state=row.state,
        reporting_organisation=row.reporting_organisation,
        role=row.role,
        reported_by=row.reported_by,
        source=row.source,
        cause=row.cause,
        affected_messages=_codes(row.affected_messages),
        affected_organisations=_codes(row.affected_organisations),
        start=row.start,
        expected_end=row.expected_end,
        reported_at=row.reported_at,
        contact=ContactPerson(row.contact_name, row.contact_phone, row.contact_email),
        resolved_at=row.resolved_at,
        last_update_at=row.last_update_at,
        last_reminder_at=row.last_reminder_at,
        settled=bool(row.settled),
    )


def _outbox_row(row: Any) -> OutboxRow:
    return OutboxRow(
        id=row.id,
        notice_id=row.notice_id,
        incident_id=row.incident_id,
        channel=row.channel,
        address=row.address,
        source=row.source,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        payload=row.payload,
        subscription_id=row.subscription_id,
        message_id=row.message_id,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
        notice_kind=getattr(row, "notice_kind", "") or "",
    )


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        email=row.email,
        organisations=_codes(row.organisations),
        clusters=_codes(row.clusters),
        message_types=_codes(row.message_types),
        state=row.state,
        confirm_token=row.confirm_token,
        unsubscribe_token=row.unsubscribe_token,
        created_at=row.created_at,
        created_by=row.created_by,
        confirmed_at=row.confirmed_at,
        removed_at=row.removed_at,
    )


def _pk(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _aware(value: datetime | str | None) -> datetime | None:
    """UtcDateTime returns aware values; max() over it on SQLite may come back as text or naive."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class IncidentNotFound(LookupError):
    pass


class SqlNotifyStorage:
    """`NotifyStorage` on the shared `Database` (tables `notify_*`, migrations component "notify")."""

    def __init__(self, database: Database) -> None:
        self.db = database
        self.engine = database.engine

    # ---- helpers
    async def _audit(self, conn: AsyncConnection, audit: Sequence[AuditEntry], **override: Any) -> None:
        if not audit:
            return
        await conn.execute(
            sa.insert(audit_log),
            [
                {
                    "at": a.at,
                    "actor": a.actor,
                    "action": a.action,
                    "detail": a.detail,
                    "incident_id": override.get("incident_id", a.incident_id),
                    "subscription_id": override.get("subscription_id", a.subscription_id),
                }
                for a in audit
            ],
        )

    async def _get(self, conn: AsyncConnection, incident_id: int) -> Incident:
        row = (await conn.execute(sa.select(incidents).where(incidents.c.id == incident_id))).first()
        if row is None:
            raise IncidentNotFound(incident_id)
        return _incident(row)

    # ---- incidents
    async def create_incident(self, new: NewIncident, audit: Sequence[AuditEntry]) -> Incident:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.insert(incidents).values(
                    kind=new.kind,
                    state=new.state,
                    reporting_organisation=new.reporting_organisation,
                    role=new.role,
                    reported_by=new.reported_by,
                    source=new.source,
                    cause=new.cause,
                    affected_messages=json.dumps(list(new.affected_messages)),
                    affected_organisations=json.dumps(list(new.affected_organisations)),
                    start=new.start,
                    expected_end=new.expected_end,
                    reported_at=new.reported_at,
                    contact_name=new.contact.name,
                    contact_phone=new.contact.phone,
                    contact_email=new.contact.email,
                    settled=False,
                )
            )
            incident_id = _pk(result)
            await self._audit(conn, audit, incident_id=incident_id)
            return await self._get(conn, incident_id)

    async def get_incident(self, incident_id: int) -> Incident | None:
        async with self.engine.connect() as conn:
            try:
                return await self._get(conn, incident_id)
            except IncidentNotFound:
                return None

    async def list_incidents(self, *, since: datetime | None = None, limit: int = 500) -> list[Incident]:
        q = sa.select(incidents).order_by(incidents.c.reported_at.desc(), incidents.c.id.desc()).limit(limit)
        if since is not None:
            q = q.where(sa.or_(incidents.c.resolved_at.is_(None), incidents.c.resolved_at >= since))
        async with self.engine.connect() as conn:
            return [_incident(r) for r in await conn.execute(q)]

    async def count_incidents(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(incidents))).scalar_one())

    async def active_incidents(self) -> list[Incident]:
        q = sa.select(incidents).where(incidents.c.state.notin_(("draft", "closed")), incidents.c.settled.is_(False))
        async with self.engine.connect() as conn:
            return [_incident(r) for r in await conn.execute(q.order_by(incidents.c.id))]

    async def confirm_incident(self, incident_id: int, audit: Sequence[AuditEntry]) -> Incident:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(incidents)
                .where(incidents.c.id == incident_id, incidents.c.state == "draft")
                .values(state="open")
            )
            await self._audit(conn, audit, incident_id=incident_id)
            return await self._get(conn, incident_id)

    async def add_update(
        self,
        incident_id: int,
        at: datetime,
        author: str,
        text: str,
        expected_end: datetime | None,
        audit: Sequence[AuditEntry],
    ) -> Incident:
        async with self.engine.begin() as conn:
            await self._get(conn, incident_id)
            await conn.execute(
                sa.insert(updates).values(
                    incident_id=incident_id, at=at, author=author, text=text, expected_end=expected_end
                )
            )
            values: dict[str, Any] = {"last_update_at": at}
            if expected_end is not None:
                values["expected_end"] = expected_end
            await conn.execute(sa.update(incidents).where(incidents.c.id == incident_id).values(**values))
            await self._audit(conn, audit, incident_id=incident_id)
            return await self._get(conn, incident_id)

    async def resolve_incident(
        self, incident_id: int, at: datetime, author: str, text: str, audit: Sequence[AuditEntry]
    ) -> Incident:
        async with self.engine.begin() as conn:
            await self._get(conn, incident_id)
            await conn.execute(sa.insert(updates).values(incident_id=incident_id, at=at, author=author, text=text))
            await conn.execute(
                sa.update(incidents)
                .where(incidents.c.id == incident_id, incidents.c.resolved_at.is_(None))
                # a draft nobody confirmed is closed quietly: recorded, never published
                .values(
                    state=sa.case((incidents.c.state == "draft", "closed"), else_="resolved"),
                    resolved_at=at,
                    last_update_at=at,
                )
            )
            await self._audit(conn, audit, incident_id=incident_id)
            return await self._get(conn, incident_id)

    async def set_scope(
        self, incident_id: int, affected_organisations: Sequence[str], audit: Sequence[AuditEntry]
    ) -> Incident:
        async with self.engine.begin() as conn:
            await self._get(conn, incident_id)
            await conn.execute(
                sa.update(incidents)
                .where(incidents.c.id == incident_id)
                .values(affected_organisations=json.dumps(list(affected_organisations)))
            )
            await self._audit(conn, audit, incident_id=incident_id)
            return await self._get(conn, incident_id)

    async def set_reminded(self, incident_id: int, at: datetime, audit: Sequence[AuditEntry]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(incidents).where(incidents.c.id == incident_id).values(last_reminder_at=at))
            await self._audit(conn, audit, incident_id=incident_id)

    async def set_settled(self, incident_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.update(incidents).where(incidents.c.id == incident_id).values(settled=True))

    async def updates_for(self, incident_id: int) -> list[IncidentUpdate]:
        q = sa.select(updates).where(updates.c.incident_id == incident_id).order_by(updates.c.id)
        async with self.engine.connect() as conn:
            return [
                IncidentUpdate(r.id, r.incident_id, r.at, r.author, r.text, r.expected_end)
                for r in await conn.execute(q)
            ]

    # ---- notices and outbox
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
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    sa.insert(notices).values(
                        incident_id=incident_id,
                        kind=kind,
                        dedupe_key=dedupe_key,
                        created_at=created_at,
                        subject=subject,
                        next_status_at=next_status_at,
                    )
                )
                notice_id = _pk(result)
                for r in rows:
                    res = await conn.execute(
                        sa.insert(outbox).values(
                            notice_id=notice_id,
                            incident_id=incident_id,
                            channel=r.channel,
                            address=r.address,
                            source=r.source,
                            subject=r.subject,
                            body_text=r.body_text,
                            body_html=r.body_html,
                            payload=r.payload,
                            subscription_id=r.subscription_id,
                            message_id="",
                            status="pending",
                            attempts=0,
                            next_attempt_at=not_before,
                        )
                    )
                    row_id = _pk(res)
                    # One Message-ID per row: a resend after a crash is detectable as a duplicate.
                    await conn.execute(
                        sa.update(outbox)
                        .where(outbox.c.id == row_id)
                        .values(message_id=f"<notify-{notice_id}-{row_id}@edigate>")
                    )
                await self._audit(conn, audit, incident_id=incident_id)
        except IntegrityError:
            return None
        return Notice(notice_id, incident_id, kind, dedupe_key, created_at, subject, next_status_at)

    async def notices_for(self, incident_id: int) -> list[Notice]:
        q = sa.select(notices).where(notices.c.incident_id == incident_id).order_by(notices.c.id)
        async with self.engine.connect() as conn:
            return [
                Notice(r.id, r.incident_id, r.kind, r.dedupe_key, r.created_at, r.subject, r.next_status_at)
                for r in await conn.execute(q)
            ]

    def _outbox_select(self) -> sa.Select[Any]:
        return sa.select(outbox, notices.c.kind.label("notice_kind")).join(notices, notices.c.id == outbox.c.notice_id)

    async def outbox_for(self, incident_id: int) -> list[OutboxRow]:
        q = self._outbox_select().where(outbox.c.incident_id == incident_id).order_by(outbox.c.id)
        async with self.engine.connect() as conn:
            return [_outbox_row(r) for r in await conn.execute(q)]

    async def failed_outbox(self, *, limit: int = 200) -> list[OutboxRow]:
        q = (
            self._outbox_select()
            .where(outbox.c.status.in_(("failed", "refused")))
            .order_by(outbox.c.id.desc())
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_outbox_row(r) for r in await conn.execute(q)]

    # ---- what the gateway's health loop reads (its gauges, and its alerts after a restart)
    async def outbox_counts(self) -> OutboxCounts | None:
        """Mail outbox pending/failed and open incidents by kind; None when notify's tables are absent."""
        try:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(outbox.c.status, sa.func.count())
                        .where(outbox.c.channel == "mail", outbox.c.status.in_(("pending", "failed", "refused")))
                        .group_by(outbox.c.status)
                    )
                ).all()
                failed_rows = (
                    await conn.execute(
                        sa.select(outbox.c.channel, notices.c.kind, sa.func.count())
                        .join(notices, notices.c.id == outbox.c.notice_id)
                        .where(outbox.c.status.in_(("failed", "refused")))
                        .group_by(outbox.c.channel, notices.c.kind)
                    )
                ).all()
                open_rows = (
                    await conn.execute(
                        sa.select(incidents.c.kind, sa.func.count())
                        .where(incidents.c.state.in_(("draft", "open")))
                        .group_by(incidents.c.kind)
                    )
                ).all()
        except sa.exc.DBAPIError:
            return None
        by_status = {s: int(c) for s, c in rows}
        return OutboxCounts(
            pending=by_status.get("pending", 0),
            failed=by_status.get("failed", 0) + by_status.get("refused", 0),
            incidents_open={k: int(c) for k, c in open_rows},
            failed_by_kind={(ch, kind): int(c) for ch, kind, c in failed_rows},
        )

    async def sent_mail_counts(self) -> dict[str, int] | None:
        """Mails the outbox has sent, by notice kind (for the notices-sent counter); None when notify's
        tables are absent. Rides ``ix_notify_outbox_due`` (status first)."""
        try:
            async with self.engine.connect() as conn:
                rows = (
                    await conn.execute(
                        sa.select(notices.c.kind, sa.func.count())
                        .select_from(outbox.join(notices, outbox.c.notice_id == notices.c.id))
                        .where(outbox.c.status == "sent", outbox.c.channel == "mail")
                        .group_by(notices.c.kind)
                    )
                ).all()
        except sa.exc.DBAPIError:
            return None
        return {kind: int(count) for kind, count in rows}

    async def last_alerts(self, key: str) -> tuple[datetime | None, datetime | None]:
        """(last down alert, last recovered mail) queued for a health event key (``HealthEvent.key``), so a
        restarted gateway does not mail on-call again about an outage it already announced. (None, None)
        when there are none or notify's tables are absent."""
        n = notices.c
        try:
            async with self.engine.connect() as conn:
                down = (
                    await conn.execute(
                        sa.select(sa.func.max(n.created_at)).where(
                            n.kind == "alert",
                            n.dedupe_key.startswith(AlertMailKey.prefix("alert", key), autoescape=True),
                        )
                    )
                ).scalar()
                recovered = (
                    await conn.execute(
                        sa.select(sa.func.max(n.created_at)).where(
                            n.kind == "alert-recovered",
                            n.dedupe_key.startswith(AlertMailKey.prefix("alert-recovered", key), autoescape=True),
                        )
                    )
                ).scalar()
        except sa.exc.DBAPIError:
            return None, None
        return _aware(down), _aware(recovered)

    def _claimable(self, now: datetime, channel: str) -> sa.ColumnElement[bool]:
        """Due, still pending, and not leased by a live claim."""
        o = outbox.c
        return sa.and_(
            o.status == "pending",
            o.channel == channel,
            o.next_attempt_at <= now,
            sa.or_(o.lease_until.is_(None), o.lease_until < now),
        )

    async def claim_outbox(
        self, now: datetime, *, channel: str, owner: str, lease_until: datetime, limit: int = 100
    ) -> list[OutboxRow]:
        # One UPDATE decides who wins: it re-checks the condition on the row it writes, so of two racing
        # claimers only one changes a row. PostgreSQL skips rows another claim has locked instead of waiting.
        # The candidates are a MATERIALIZED CTE: as a plain `IN (subquery)` PostgreSQL may run the LIMIT
        # subquery again per row, see its own updates and so claim more than `limit` rows.
        free = self._claimable(now, channel)
        candidates = sa.select(outbox.c.id).where(free).order_by(outbox.c.id).limit(limit)
        if self.db.dialect == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        chosen = candidates.cte("claimable").prefix_with("MATERIALIZED")
        claim = (
            sa.update(outbox)
            .where(outbox.c.id.in_(sa.select(chosen.c.id)), free)
            .values(lease_until=lease_until, leased_by=owner)
            .returning(outbox.c.id)
        )
        # The outbox is polled every second and is nearly always empty: look before taking a write lock
        # (on SQLite the file is shared with the gateway's writer thread).
        async with self.engine.connect() as conn:
            if (await conn.execute(sa.select(outbox.c.id).where(free).limit(1))).first() is None:
                return []
        async with self.engine.begin() as conn:
            ids = list((await conn.execute(claim)).scalars())
            if not ids:
                return []
            q = self._outbox_select().where(outbox.c.id.in_(ids)).order_by(outbox.c.id)
            return [_outbox_row(r) for r in await conn.execute(q)]

    def _held(self, row_id: int, owner: str) -> sa.ColumnElement[bool]:
        return sa.and_(outbox.c.id == row_id, outbox.c.leased_by == owner, outbox.c.status == "pending")

    async def _mark(self, row_id: int, owner: str, values: dict[str, Any], audit: Sequence[AuditEntry] = ()) -> bool:
        """Change a row only if `owner` holds its lease, clear the lease; audit only what happened."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox)
                .where(self._held(row_id, owner))
                .values(**values, attempts=outbox.c.attempts + 1, lease_until=None, leased_by=None)
            )
            if result.rowcount != 1:
                return False
            await self._audit(conn, audit)
            return True

    async def renew_outbox(self, row_id: int, *, owner: str, lease_until: datetime) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox).where(self._held(row_id, owner)).values(lease_until=lease_until)
            )
            return bool(result.rowcount == 1)

    async def release_outbox(self, owner: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox)
                .where(outbox.c.leased_by == owner, outbox.c.status == "pending")
                .values(lease_until=None, leased_by=None)
            )
            return int(result.rowcount or 0)

    async def recover_outbox(self) -> int:
        """On SQLite one process owns the file, so every lease is a dead process's: free them at once.
        PostgreSQL waits for the leases to run out, because another live instance may hold them."""
        if self.db.dialect != "sqlite":
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox).where(outbox.c.leased_by.is_not(None)).values(lease_until=None, leased_by=None)
            )
            return int(result.rowcount or 0)

    async def mark_sent(self, row_id: int, at: datetime, *, owner: str) -> bool:
        return await self._mark(row_id, owner, {"status": "sent", "sent_at": at, "last_error": None})

    async def mark_refused(self, row_id: int, error: str, audit: Sequence[AuditEntry], *, owner: str) -> bool:
        return await self._mark(row_id, owner, {"status": "refused", "last_error": error}, audit)

    async def mark_retry(self, row_id: int, error: str, next_attempt_at: datetime, *, owner: str) -> bool:
        return await self._mark(row_id, owner, {"last_error": error, "next_attempt_at": next_attempt_at})

    async def mark_failed(self, row_id: int, error: str, audit: Sequence[AuditEntry], *, owner: str) -> bool:
        return await self._mark(row_id, owner, {"status": "failed", "last_error": error}, audit)

    # ---- subscriptions
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
    ) -> Subscription:
        async with self.engine.begin() as conn:
            res = await conn.execute(
                sa.insert(subscriptions).values(
                    email=email,
                    organisations=json.dumps(list(organisations)),
                    clusters=json.dumps(list(clusters)),
                    message_types=json.dumps(list(message_types)),
                    state="confirmed" if confirmed else "pending",
                    confirm_token=confirm_token,
                    unsubscribe_token=unsubscribe_token,
                    created_at=created_at,
                    created_by=created_by,
                    confirmed_at=created_at if confirmed else None,
                )
            )
            sub_id = _pk(res)
            await self._audit(conn, audit, subscription_id=sub_id)
            row = (await conn.execute(sa.select(subscriptions).where(subscriptions.c.id == sub_id))).one()
            return _subscription(row)

    async def subscription_by_token(
        self, *, confirm_token: str = "", unsubscribe_token: str = ""
    ) -> Subscription | None:
        if confirm_token:
            cond = subscriptions.c.confirm_token == confirm_token
        elif unsubscribe_token:
            cond = subscriptions.c.unsubscribe_token == unsubscribe_token
        else:
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(subscriptions).where(cond))).first()
            return _subscription(row) if row else None

    async def get_subscription(self, subscription_id: int) -> Subscription | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(subscriptions).where(subscriptions.c.id == subscription_id))).first()
            return _subscription(row) if row else None

    async def _set_subscription(
        self, subscription_id: int, values: dict[str, Any], where: Any, audit: Sequence[AuditEntry]
    ) -> Subscription:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(subscriptions).where(subscriptions.c.id == subscription_id, where).values(**values)
            )
            await self._audit(conn, audit, subscription_id=subscription_id)
            row = (await conn.execute(sa.select(subscriptions).where(subscriptions.c.id == subscription_id))).one()
            return _subscription(row)

    async def confirm_subscription(
        self, subscription_id: int, at: datetime, audit: Sequence[AuditEntry]
    ) -> Subscription:
        return await self._set_subscription(
            subscription_id,
            {"state": "confirmed", "confirmed_at": at},
            subscriptions.c.state == "pending",
            audit,
        )

    async def remove_subscription(
        self, subscription_id: int, at: datetime, audit: Sequence[AuditEntry]
    ) -> Subscription:
        return await self._set_subscription(
            subscription_id, {"state": "removed", "removed_at": at}, subscriptions.c.state != "removed", audit
        )

    async def list_subscriptions(self, *, include_removed: bool = False) -> list[Subscription]:
        q = sa.select(subscriptions).order_by(subscriptions.c.id)
        if not include_removed:
            q = q.where(subscriptions.c.state != "removed")
        async with self.engine.connect() as conn:
            return [_subscription(r) for r in await conn.execute(q)]

    async def pending_subscription(self, email: str, *, since: datetime) -> Subscription | None:
        q = (
            sa.select(subscriptions)
            .where(
                sa.func.lower(subscriptions.c.email) == email.lower(),
                subscriptions.c.state == "pending",
                subscriptions.c.created_at >= since,
            )
            .order_by(subscriptions.c.id.desc())
            .limit(1)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(q)).first()
            return _subscription(row) if row else None

    # ---- audit
    async def add_audit(self, audit: Sequence[AuditEntry]) -> None:
        async with self.engine.begin() as conn:
            await self._audit(conn, audit)

    async def audit_for(
        self, *, incident_id: int | None = None, subscription_id: int | None = None
    ) -> list[AuditEntry]:
        q = sa.select(audit_log).order_by(audit_log.c.id)
        if incident_id is not None:
            q = q.where(audit_log.c.incident_id == incident_id)
        if subscription_id is not None:
            q = q.where(audit_log.c.subscription_id == subscription_id)
        async with self.engine.connect() as conn:
            return [
                AuditEntry(r.at, r.actor, r.action, r.detail, r.incident_id, r.subscription_id, r.id)
                for r in await conn.execute(q)
            ]
