"""SQL `notify.dead_letters.DeadLetterDesk`: the gateway's dead letters (state `failed`) for the desk's page.

Reads metadata columns only (never the body, which holds the CPR); the last reason passes the project's CPR
scrubber as partner text does. A re-queue is the API's and the CLI's (`messages.requeued`, a `retry` event
from which the queue age counts afresh), written in one transaction with its entry in the notify audit log,
and only while the message is still a dead letter: a second click, or one racing another instance, changes
nothing and says so.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from edigate.store.correlation import partner_text
from edigate.store.messages import RETRY_EVENT, MessageStore, requeued
from edigate.store.model import is_fhir
from edigate.store.notify_store import audit_log
from edigate.store.schema import events, messages
from edigate.store.states import MessageState
from notify.dead_letters import (
    AUDIT_ACTION,
    DeadLetter,
    DeadLetterPage,
    InvalidCursor,
    ReceiverCount,
    RetryResult,
    audit_detail,
)
from notify.model import AuditEntry

m = messages.c

_COLUMNS = (
    m.id,
    m.sender_ean,
    m.receiver_ean,
    m.type,
    m.format,
    m.state,
    m.updated_at,
    m.created_at,
    m.last_error,
    m.attempts,
    (sa.func.length(m.body) > 0).label("has_body"),
)
_FAILED = sa.bindparam(None, MessageState.FAILED.value, type_=sa.String(16), literal_execute=True)
_NEWEST_FIRST = (m.created_at.desc(), m.id.desc())  # the (state, created_at, id) listing index, read backwards
EVENT_DETAIL = "lagt i kø igen af EDI-support"
MAX_PAGE = 200


class _NoLongerDead(Exception):
    """Raised inside a write transaction to roll it back: a message was re-queued by someone else."""


class SqlDeadLetterDesk:
    def __init__(
        self,
        store: MessageStore,
        names: Mapping[str, str],
        wake: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.store = store  # its write() serialises writers on SQLite (BEGIN IMMEDIATE + the store's lock)
        self.names = dict(names)
        self.wake = wake or (lambda receivers: None)

    def _letter(self, row: Any) -> DeadLetter:
        return DeadLetter(
            id=int(row.id),
            sender_ean=row.sender_ean,
            sender_name=self.names.get(row.sender_ean, "ukendt partner"),
            receiver_ean=row.receiver_ean,
            receiver_name=self.names.get(row.receiver_ean, "ukendt partner"),
            type=row.type,
            standard="FHIR" if is_fhir(row.format) else "OIOXML",
            failed_at=row.updated_at,
            reason=partner_text(row.last_error) or "ukendt årsag",
            attempts=int(row.attempts),
            can_retry=bool(row.has_body),
        )

    async def list_dead_letters(self, *, cursor: str | None = None, limit: int = 50) -> DeadLetterPage:
        limit = max(1, min(limit, MAX_PAGE))
        query = sa.select(*_COLUMNS).where(m.state == MessageState.FAILED)
        if cursor:
            query = query.where(sa.tuple_(m.created_at, m.id) < sa.tuple_(*read_cursor(cursor)))
        query = query.order_by(*_NEWEST_FIRST).limit(limit + 1)
        async with self.store.db.engine.connect() as conn:
            rows = list(await conn.execute(query))
        more = len(rows) > limit
        rows = rows[:limit]
        return DeadLetterPage(
            [self._letter(r) for r in rows],
            make_cursor(rows[-1].created_at, int(rows[-1].id)) if more else None,
        )

    async def receivers(self) -> list[ReceiverCount]:
        query = receivers_statement()
        async with self.store.db.engine.connect() as conn:
            rows = list(await conn.execute(query))
        counts = [
            ReceiverCount(r.receiver_ean, self.names.get(r.receiver_ean, "ukendt partner"), int(r.n)) for r in rows
        ]
        return sorted(counts, key=lambda c: (-c.count, c.name))

    async def retry(self, message_id: int, by: str) -> RetryResult:
        letter = None
        try:
            async with self.store.write() as conn:
                row = (await conn.execute(sa.select(*_COLUMNS).where(m.id == message_id))).first()
                if row is None:
                    return RetryResult("not_found")
                letter = self._letter(row)
                if row.state != MessageState.FAILED:
                    return RetryResult("not_dead", letter)
                if not letter.can_retry:
                    return RetryResult("purged", letter)
                await self._requeue(conn, [letter], by)
        except _NoLongerDead:
            return RetryResult("not_dead", letter)
        self.wake([letter.receiver_ean])
        return RetryResult("queued", letter)

    async def retry_receiver(self, receiver_ean: str, by: str) -> list[DeadLetter]:
        query = (
            sa.select(*_COLUMNS)
            .where(m.receiver_ean == receiver_ean, m.state == MessageState.FAILED, sa.func.length(m.body) > 0)
            .order_by(m.id)  # the receiver's FIFO order, as they were first queued
        )
        try:
            async with self.store.write() as conn:
                letters = [self._letter(r) for r in await conn.execute(query)]
                if letters:
                    await self._requeue(conn, letters, by)
        except _NoLongerDead:  # another instance retried one of them meanwhile: the desk clicks again
            return []
        if letters:
            self.wake([receiver_ean])
        return letters

    async def _requeue(self, conn: AsyncConnection, letters: Sequence[DeadLetter], by: str) -> None:
        """Put `letters` back in their queue with their audit entries; _NoLongerDead (the transaction rolls
        back, nothing is written) if any of them stopped being a dead letter meanwhile."""
        now = self.store.clock()
        ids = [letter.id for letter in letters]
        done = await conn.execute(
            sa.update(messages)
            .where(m.id.in_(ids), m.state == MessageState.FAILED)
            .values(**requeued(MessageState.FAILED, now))
        )
        if done.rowcount != len(ids):
            raise _NoLongerDead
        await conn.execute(
            sa.insert(events), [{"message_id": i, "at": now, "event": RETRY_EVENT, "detail": EVENT_DETAIL} for i in ids]
        )
        await conn.execute(
            sa.insert(audit_log),
            [{"at": now, "actor": by, "action": AUDIT_ACTION, "detail": audit_detail(letter)} for letter in letters],
        )

    async def history(self, limit: int = 20) -> list[AuditEntry]:
        query = (
            sa.select(audit_log).where(audit_log.c.action == AUDIT_ACTION).order_by(audit_log.c.id.desc()).limit(limit)
        )
        async with self.store.db.engine.connect() as conn:
            return [AuditEntry(r.at, r.actor, r.action, r.detail, id=r.id) for r in await conn.execute(query)]


def receivers_statement() -> sa.Select[Any]:
    """Dead letters that can be retried (body kept), counted per receiver."""
    return (
        sa.select(m.receiver_ean, sa.func.count().label("n"))
        # 'failed' written into the SQL: as a parameter, PostgreSQL's generic plan of the prepared
        # statement (after five views) guessed half the table failed and read all of it, 1.2 s at
        # 3 M stored (bench/results/generic_plans.md); with the constant it reads the failed rows' range
        .where(m.state == _FAILED, sa.func.length(m.body) > 0)
        .group_by(m.receiver_ean)
    )


def make_cursor(created_at: datetime, mid: int) -> str:
    """An opaque keyset cursor: the (created_at, id) of a page's last row."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{mid}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def read_cursor(text: str) -> tuple[datetime, int]:
    """The (created_at, id) in a cursor from `make_cursor`; InvalidCursor for anything else."""
    try:
        if len(text) > 100:
            raise ValueError
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        at_text, _, id_text = raw.partition("|")
        at, mid = datetime.fromisoformat(at_text), int(id_text)
        if at.tzinfo is None or not 0 < mid < 2**63:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise InvalidCursor(text) from None
    return at, mid
