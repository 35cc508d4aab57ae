"""The durable message store and delivery queue, on SQLite or PostgreSQL (SQLAlchemy Core, async).

- `accept()` goes through the group-commit writer (see group_commit.py); 202 only after COMMIT.
- Delivery work is shared per receiver queue: an instance leases a receiver's queue row
  (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and then delivers that receiver's messages in id order, so
  two instances never work one queue and a correction never overtakes its original.
- On SQLite every write transaction is `BEGIN IMMEDIATE` and serialised in-process by one lock, so a
  read-then-write transaction never dead-ends in SQLITE_BUSY.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from edigate.clock import Clock
from edigate.store.crypto import BodyKeyring, open_body, seal_rows
from edigate.store.db import Database
from edigate.store.group_commit import GroupCommitWriter, StorageUnavailable
from edigate.store.health_queries import queue_run
from edigate.store.ingest import apply_batch, look_up_only, warm_up_item
from edigate.store.model import GeneratedReceipt, IngestItem, IngestOutcome, MissingReceiptAlert, QueuedMessage
from edigate.store.schema import AWAITING_RECEIPT, OVERDUE_UNALERTED, delivery_queues, events, letters, messages
from edigate.store.states import DeliveryState, MessageEvent, MessageState

__all__ = ["MessageStore", "StorageUnavailable"]

m = messages.c

# A mailbox fetch confirmation's verdict: confirmed now, confirmed before, or not this receiver's message.
FetchConfirmation = Literal["ok", "already", "unknown"]

# metadata columns: everything but the body (which holds the CPR)
META_COLUMNS = [c for c in messages.c if c.name not in ("body",)]


@dataclass(frozen=True)
class SearchFilter:
    envelope_id: str | None = None  # the Bundle.id of a FHIR message
    letter_id: str | None = None  # the MessageHeader.id of a FHIR message
    sender: str | None = None
    receiver: str | None = None
    state: str | None = None
    since: datetime | None = None
    limit: int = 100
    visible_to: frozenset[str] | None = None  # None = admin, sees all
    after: tuple[datetime, int] | None = None  # keyset cursor: (created_at, id) of the previous page's last row


# Newest first; the pair is also the keyset cursor (never OFFSET: a deep page costs what the first does).
_NEWEST_FIRST = (m.created_at.desc(), m.id.desc())


# What a transport needs of a queued message (see MessageStore._queued).
_QUEUE_COLUMNS = (
    m.id,
    m.envelope_id,
    m.receiver_ean,
    m.sender_ean,
    m.type,
    m.body,
    m.attempts,
    m.created_at,
    m.next_attempt_at,
    m.format,
)


class MessageStore:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        group_commit_max: int = 256,
        group_commit_wait_ms: float = 2.0,
        keyring: BodyKeyring | None = None,
    ) -> None:
        self.db = database
        self.keyring = keyring  # encryption at rest of bodies (edigate.store.crypto); None = off
        self.clock = clock
        self._lock = asyncio.Lock() if database.dialect == "sqlite" else None
        self._sync_engine: sa.Engine | None = None
        self._sqlite_thread: ThreadPoolExecutor | None = None
        # SQLite: the delivery worker's queue reads on a plain sqlite3 connection in a thread of their own
        # (one hand-off per read; through aiosqlite ~5, each a thread wake-up and two GIL switches)
        self._reader_engine: sa.Engine | None = None
        self._sqlite_reader: ThreadPoolExecutor | None = None
        if database.dialect == "sqlite":
            self._sync_engine = sa.create_engine(
                database.engine.url.set(drivername="sqlite"), poolclass=sa.pool.SingletonThreadPool
            )
            sa.event.listen(self._sync_engine, "connect", database.sqlite_pragmas)
            self._sqlite_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
            self._reader_engine = sa.create_engine(
                database.engine.url.set(drivername="sqlite"), poolclass=sa.pool.SingletonThreadPool
            )
            sa.event.listen(self._reader_engine, "connect", database.sqlite_pragmas)
            self._sqlite_reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self.writer: GroupCommitWriter[IngestItem, IngestOutcome] = GroupCommitWriter(
            self._commit_batch, max_batch=group_commit_max, max_wait=group_commit_wait_ms / 1000
        )

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.db.migrate()
        await self.warm()
        self.writer.start()

    async def warm(self) -> None:
        """Before the first request: one made-up batch through the accept transaction, rolled back (nothing
        is stored). Measured on a 3 M store: the first real batch otherwise paid the writer's connection
        (opened, its pragmas), SQLAlchemy's first compile of every ingest statement and the database's cold
        index pages, ~100 ms on top of the first senders' answers (its delivery mark too, the same way). On
        PostgreSQL only the look-ups run
        (an insert rolled back would still use up sequence values)."""
        item = warm_up_item()
        now = self.clock()
        if self._lock is None:
            async with self.db.engine.connect() as conn:
                await conn.run_sync(look_up_only, [item])
                await conn.rollback()
            return
        async with self._lock:
            await asyncio.get_running_loop().run_in_executor(self._sqlite_thread, self._warm_sync, item, now)

    def _warm_sync(self, item: IngestItem, now: datetime) -> None:
        assert self._sync_engine is not None
        with self._sync_engine.connect() as conn:
            tx = conn.begin()
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                (outcome,) = apply_batch(conn, [item], now, self.keyring)
                if outcome.id is not None:  # and its delivery marked, in the same transaction
                    _mark_delivered(conn, [outcome.id], now, "warm-up")
            finally:
                tx.rollback()

    async def stop(self) -> None:
        await self.writer.stop()
        if self._sqlite_thread is not None:
            assert self._sync_engine is not None
            engine = self._sync_engine
            await asyncio.get_running_loop().run_in_executor(self._sqlite_thread, engine.dispose)
            self._sqlite_thread.shutdown(wait=True)
        if self._sqlite_reader is not None:
            assert self._reader_engine is not None
            reader = self._reader_engine
            await asyncio.get_running_loop().run_in_executor(self._sqlite_reader, reader.dispose)
            self._sqlite_reader.shutdown(wait=True)

    async def ping(self) -> bool:
        try:
            async with self.db.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (BEGIN IMMEDIATE and an in-process lock on SQLite)."""
        if self._lock is None:
            async with self.db.engine.begin() as conn:
                yield conn
            return
        async with self._lock, self.db.engine.begin() as conn:
            await conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    # ------------------------------------------------------------------------------ ingest

    async def accept(self, item: IngestItem) -> IngestOutcome:
        """Store one message durably (group commit); raises StorageUnavailable when it could not."""
        return await self.writer.submit(item)

    async def _commit_batch(self, items: Sequence[IngestItem]) -> list[IngestOutcome]:
        now = self.clock()
        try:
            return await self._apply(items, now)
        except IntegrityError:
            if len(items) == 1:
                raise
        # another instance committed one of these envelopes meanwhile: classify one by one
        out: list[IngestOutcome] = []
        for item in items:
            out.extend(await self._apply([item], now))
        return out

    async def _apply(self, items: Sequence[IngestItem], now: datetime) -> list[IngestOutcome]:
        if self._lock is None:
            async with self.db.engine.begin() as conn:
                return await conn.run_sync(apply_batch, items, now, self.keyring)
        # SQLite: the whole batch in the writer thread on a plain sqlite3 connection. Measured in the
        # running service: 32-message batches took 31 ms through aiosqlite (a thread hand-off and a
        # GIL round trip per statement) against a few ms here.
        async with self._lock:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._sqlite_thread, self._apply_sync, items, now)

    def _apply_sync(self, items: Sequence[IngestItem], now: datetime) -> list[IngestOutcome]:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return apply_batch(conn, items, now, self.keyring)

    # ------------------------------------------------------------------------------ delivery queues

    async def ensure_queues(self, receivers: Sequence[str]) -> None:
        async with self.write() as conn:
            have = set((await conn.execute(sa.select(delivery_queues.c.receiver_ean))).scalars())
            missing = [{"receiver_ean": r, "owner": None, "lease_until": None} for r in receivers if r not in have]
            if missing:
                if self.db.dialect == "postgresql":
                    await conn.execute(pg_insert(delivery_queues).on_conflict_do_nothing(), missing)
                else:
                    await conn.execute(sa.insert(delivery_queues).prefix_with("OR IGNORE"), missing)

    async def claim_queues(self, owner: str, receivers: Sequence[str], lease_seconds: float) -> list[str]:
        """Lease the receiver queues that are free (or already ours); returns the ones we now hold."""
        if not receivers:
            return []
        now = self.clock()
        q = delivery_queues.c
        free = sa.and_(q.receiver_ean.in_(receivers), sa.or_(q.owner == owner, q.owner.is_(None), q.lease_until < now))
        if self.db.dialect == "postgresql":
            sub = sa.select(q.receiver_ean).where(free).with_for_update(skip_locked=True).scalar_subquery()
            cond: sa.ColumnElement[bool] = q.receiver_ean.in_(sub)
        else:
            cond = free
        stmt = (
            sa.update(delivery_queues)
            .where(cond)
            .values(owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
            .returning(q.receiver_ean)
        )
        async with self.write() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def recover_queues(self) -> int:
        """Startup recovery on SQLite (one instance per database file by design): leases held by a process
        that died are released at once instead of after their lease time. PostgreSQL waits for the lease,
        because another live instance may hold it."""
        if self.db.dialect != "sqlite":
            return 0
        async with self.write() as conn:
            result = await conn.execute(
                sa.update(delivery_queues)
                .where(delivery_queues.c.owner.is_not(None))
                .values(owner=None, lease_until=None)
            )
            return int(result.rowcount or 0)

    async def release_queues(self, owner: str) -> None:
        async with self.write() as conn:
            await conn.execute(
                sa.update(delivery_queues).where(delivery_queues.c.owner == owner).values(owner=None, lease_until=None)
            )

    async def next_messages(self, receiver: str, limit: int) -> list[QueuedMessage]:
        """The head of a receiver's queue, in FIFO (id) order: a range of gw_messages_queue in every plan."""
        queue, fifo = queue_run(receiver, DeliveryState.PENDING)
        head = sa.select(*_QUEUE_COLUMNS).where(*queue).order_by(*fifo).limit(limit)
        if self._sqlite_reader is None:
            async with self.db.engine.connect() as conn:
                rows = (await conn.execute(head)).all()
        else:
            rows = await asyncio.get_running_loop().run_in_executor(self._sqlite_reader, self._read_sync, head)
        return [self._queued(r) for r in rows]

    def _read_sync(self, stmt: sa.Executable) -> Sequence[Any]:
        assert self._reader_engine is not None
        with self._reader_engine.connect() as conn:
            return conn.execute(stmt).all()

    def _queued(self, r: Any) -> QueuedMessage:  # a row of _QUEUE_COLUMNS
        """A queue row as the transports see it, with its body decrypted when encryption is on."""
        return QueuedMessage(
            r.id,
            r.envelope_id,
            r.receiver_ean,
            r.sender_ean,
            r.type,
            open_body(self.keyring, r.body, r.sender_ean, r.envelope_id),
            r.attempts,
            r.created_at,
            r.next_attempt_at,
            r.format,
        )

    async def mark_delivered(self, ids: Sequence[int], detail: str) -> None:
        """Delivered: one transaction for the batch. On SQLite it runs whole in the writer thread, like the
        ingest batch (profiled in the 300 msg/s soak: through aiosqlite its BEGIN, UPDATE, INSERT and COMMIT
        were ~10 thread hand-offs, each a wake-up and two GIL switches, 7 % of the event loop's samples)."""
        if not ids:
            return
        now = self.clock()
        if self._lock is None:
            async with self.db.engine.begin() as conn:
                await conn.run_sync(_mark_delivered, ids, now, detail)
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._sqlite_thread, self._mark_delivered_sync, ids, now, detail)

    def _mark_delivered_sync(self, ids: Sequence[int], now: datetime, detail: str) -> None:
        assert self._sync_engine is not None
        with self._sync_engine.begin() as conn:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            _mark_delivered(conn, ids, now, detail)

    async def record_failure(
        self,
        mid: int,
        error: str,
        next_attempt_at: datetime | None,
        *,
        dead: bool,
        receipt: GeneratedReceipt | None = None,
    ) -> None:
        """One failed attempt; `dead` moves the message to `failed` (dead letter) keeping the reason, and
        queues `receipt` (the sender's XCTL02) in the same transaction."""
        now = self.clock()
        values: dict[str, Any] = {
            "attempts": m.attempts + 1,
            "last_error": error[:2000],
            "updated_at": now,
            "next_attempt_at": next_attempt_at,
        }
        if dead:
            values.update(delivery_state=DeliveryState.FAILED, state=MessageState.FAILED)
        async with self.write() as conn:
            await conn.execute(
                sa.update(messages).where(m.id == mid, m.delivery_state == DeliveryState.PENDING).values(**values)
            )
            await conn.execute(
                sa.insert(events).values(
                    message_id=mid,
                    at=now,
                    event=MessageEvent.FAILED if dead else MessageEvent.ATTEMPT_FAILED,
                    detail=error[:2000],
                )
            )
            if dead and receipt is not None:
                await self._queue_failure_receipt(conn, mid, receipt, now)

    async def _queue_failure_receipt(
        self, conn: AsyncConnection, mid: int, receipt: GeneratedReceipt, now: datetime
    ) -> None:
        """The dead letter's sender is told (XCTL02 ikke_specificeret), through its own delivery."""
        original = (await conn.execute(sa.select(m.sender_ean).where(m.id == mid))).first()
        if original is None:
            return
        row: dict[str, object] = {
            "envelope_id": receipt.envelope_id,
            "sender_ean": receipt.sender_ean,
            "receiver_ean": original.sender_ean,
            "type": "XCTL02",
            "version_code": "XC0230Q",
            "ack_requested": False,
            "is_receipt": True,
            "generated": True,
            "state": MessageState.ACCEPTED,
            "delivery_state": DeliveryState.PENDING,
            "refuse_code": "ikke_specificeret",
            "refuse_text": None,
            "body": receipt.body,
            "body_size": len(receipt.body),
            "created_at": now,
            "updated_at": now,
            "attempts": 0,
            "receipt_for_id": mid,
            "resend_of_id": None,
        }
        (sealed,) = seal_rows(self.keyring, [row])
        result = await conn.execute(sa.insert(messages).values(**sealed))
        key = result.inserted_primary_key
        assert key is not None
        rid = int(key[0])
        await conn.execute(
            sa.insert(letters).values(
                message_id=rid,
                letter_id=receipt.letter_id,
                sender_ean=receipt.sender_ean,
                version_code="XC0230Q",
                status_code=None,
            )
        )
        await conn.execute(
            sa.insert(events),
            [
                {
                    "message_id": rid,
                    "at": now,
                    "event": MessageEvent.ACCEPTED,
                    "detail": f"negative receipt for message {mid}",
                },
                {"message_id": mid, "at": now, "event": MessageEvent.RECEIPT_QUEUED, "detail": f"message {rid}"},
            ],
        )

    async def retry(self, mid: int) -> bool:
        """Re-queue a message (dead letter or delivered) for delivery; False when there is nothing to send."""
        now = self.clock()
        async with self.write() as conn:
            row = (
                await conn.execute(
                    sa.select(m.state, m.delivery_state, sa.func.length(m.body).label("size")).where(m.id == mid)
                )
            ).first()
            if row is None or row.delivery_state == DeliveryState.NONE or not row.size:  # rejected, or body purged
                return False
            await conn.execute(sa.update(messages).where(m.id == mid).values(**requeued(row.state, now)))
            await conn.execute(sa.insert(events).values(message_id=mid, at=now, event=RETRY_EVENT, detail=None))
        return True

    async def last_retry_at(self, mid: int) -> datetime | None:
        """When the message was last re-queued by `retry` (None if never): its queue age counts from there."""
        async with self.db.engine.connect() as conn:
            value = (
                await conn.execute(
                    sa.select(sa.func.max(events.c.at)).where(events.c.message_id == mid, events.c.event == RETRY_EVENT)
                )
            ).scalar()
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            return None
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    async def receiver_of(self, mid: int) -> str | None:
        async with self.db.engine.connect() as conn:
            return (await conn.execute(sa.select(m.receiver_ean).where(m.id == mid))).scalar()

    # ------------------------------------------------------------------------------ mailbox

    async def mailbox_fetch(self, receiver: str, limit: int, lease_seconds: float) -> list[QueuedMessage]:
        """Lease the oldest unconfirmed messages for a mailbox receiver, in FIFO order."""
        now = self.clock()
        queue, fifo = queue_run(receiver, DeliveryState.PENDING)  # a range of gw_messages_queue in every plan
        sel = (
            sa.select(m.id)
            .where(*queue, sa.or_(m.lease_until.is_(None), m.lease_until < now))
            .order_by(*fifo)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            sel = sel.with_for_update(skip_locked=True)
        async with self.write() as conn:
            ids = list((await conn.execute(sel)).scalars())
            if not ids:
                return []
            await conn.execute(
                sa.update(messages)
                .where(m.id.in_(ids))
                .values(
                    lease_until=now + timedelta(seconds=lease_seconds),
                    attempts=m.attempts + 1,
                    updated_at=now,
                )
            )
            rows = (await conn.execute(sa.select(*_QUEUE_COLUMNS).where(m.id.in_(ids)).order_by(m.id))).all()
            await conn.execute(
                sa.insert(events),
                [{"message_id": i, "at": now, "event": MessageEvent.MAILBOX_LEASED, "detail": None} for i in ids],
            )
        return [self._queued(r) for r in rows]

    async def mailbox_confirm_fetched(self, receiver: str, mid: int) -> FetchConfirmation:
        """The receiver confirms it has fetched one mailbox message, which makes it delivered (the
        mailbox's fetch confirmation, not a MedCom receipt: that comes later as a message of its own)."""
        now = self.clock()
        async with self.write() as conn:
            row = (
                await conn.execute(sa.select(m.delivery_state).where(m.id == mid, m.receiver_ean == receiver))
            ).first()
            if row is None:
                return "unknown"
            if row.delivery_state != DeliveryState.PENDING:
                return "already"
            await conn.execute(
                sa.update(messages)
                .where(m.id == mid, m.delivery_state == DeliveryState.PENDING)
                .values(
                    delivery_state=DeliveryState.DELIVERED,
                    delivered_at=now,
                    updated_at=now,
                    lease_until=None,
                    state=sa.case((m.state == MessageState.ACCEPTED, MessageState.DELIVERED), else_=m.state),
                )
            )
            await conn.execute(
                sa.insert(events).values(
                    message_id=mid, at=now, event=MessageEvent.DELIVERED, detail="mailbox confirmed"
                )
            )
        return "ok"

    # ------------------------------------------------------------------------------ receipts overdue

    async def sweep_missing_receipts(
        self, timeout: timedelta, alert_after: timedelta
    ) -> tuple[list[int], list[MissingReceiptAlert]]:
        """pluspositivkvitt without a MedCom receipt: `ack_overdue` (MessageState.RECEIPT_OVERDUE) `timeout`
        after delivery, one alert `alert_after` after delivery. (A message stuck in the queue is the
        delivery alerts' business, not a missing receipt.)

        Each UPDATE reads one partial index (schema.AWAITING_RECEIPT, schema.OVERDUE_UNALERTED): only the
        messages still waiting, by delivery time, however many are stored."""
        now = self.clock()
        async with self.write() as conn:
            overdue = list((await conn.execute(overdue_update(now - timeout, now))).scalars())
            if overdue:
                await conn.execute(
                    sa.insert(events),
                    [
                        {
                            "message_id": i,
                            "at": now,
                            "event": MessageEvent.RECEIPT_OVERDUE,
                            "detail": f"no receipt after {int(timeout.total_seconds() // 60)} min",
                        }
                        for i in overdue
                    ],
                )
            rows = (await conn.execute(alert_update(now - alert_after, now))).all()
            if rows:
                await conn.execute(
                    sa.insert(events),
                    [
                        {
                            "message_id": r.id,
                            "at": now,
                            "event": MessageEvent.RECEIPT_ALERT,
                            "detail": f"no receipt after {int(alert_after.total_seconds() // 60)} min",
                        }
                        for r in rows
                    ],
                )
        return overdue, [
            MissingReceiptAlert(r.id, r.envelope_id, r.sender_ean, r.receiver_ean, r.type, r.created_at) for r in rows
        ]

    # ------------------------------------------------------------------------------ reading

    async def get(self, mid: int) -> dict[str, Any] | None:
        """Metadata, letters and history of one message (no body)."""
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(sa.select(*META_COLUMNS).where(m.id == mid))).mappings().first()
            if row is None:
                return None
            lrows = (
                (
                    await conn.execute(
                        sa.select(
                            letters.c.letter_id,
                            letters.c.version_code,
                            letters.c.status_code,
                            letters.c.receipt_state,
                            letters.c.refuse_code,
                            letters.c.refuse_text,
                            letters.c.receipt_at,
                        )
                        .where(letters.c.message_id == mid)
                        .order_by(letters.c.id)
                    )
                )
                .mappings()
                .all()
            )
            erows = (
                (
                    await conn.execute(
                        sa.select(events.c.at, events.c.event, events.c.detail)
                        .where(events.c.message_id == mid)
                        .order_by(events.c.id)
                    )
                )
                .mappings()
                .all()
            )
        return {**dict(row), "letters": [dict(r) for r in lrows], "history": [dict(r) for r in erows]}

    async def body(self, mid: int) -> bytes | None:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(sa.select(m.body, m.sender_ean, m.envelope_id).where(m.id == mid))).first()
        return None if row is None else open_body(self.keyring, row.body, row.sender_ean, row.envelope_id)

    async def search(self, f: SearchFilter) -> list[dict[str, Any]]:
        """One page of `f`, newest first. Every filter and combination is the equality prefix of a listing
        index (schema.py); a caller's own messages are one index range per EAN and side (sender, receiver),
        each limited, merged here: never a scan of everything the caller ever sent."""
        stmt, values = search_query(f)
        return await self._fetch(stmt, values)

    async def _fetch(self, stmt: sa.Select[Any], values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt, values or {})).mappings()]

    async def counts(self) -> dict[str, int]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(sa.select(m.state, sa.func.count()).group_by(m.state))).all()
        return {r[0]: int(r[1]) for r in rows}


#: the event a re-queue writes; a message's queue age counts from the last one (`last_retry_at`)
RETRY_EVENT = MessageEvent.RETRY


def requeued(state: str, now: datetime) -> dict[str, Any]:
    """The columns of a message put back in its receiver's queue as new: no attempts, no lease, and a
    dead letter is `accepted` again (any other state, e.g. delivered, is kept until the next delivery)."""
    return {
        "delivery_state": DeliveryState.PENDING,
        "attempts": 0,
        "next_attempt_at": None,
        "lease_until": None,
        "updated_at": now,
        "state": MessageState.ACCEPTED if state == MessageState.FAILED else state,
    }


def search_statement(f: SearchFilter) -> sa.Select[Any]:
    """The SELECT for one page of `f`, its values bound (what the query-plan tests explain)."""
    stmt, values = search_query(f)
    return stmt.params(values)


def search_query(f: SearchFilter) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The SELECT for one page of `f` as a statement shared by every filter of the same shape (which
    filters are set, which EANs' sides, the limit) and the values for its parameters. Building the
    statement is the costly part of a partner's page (its union of per-side ranges: 3-5 ms of Python per
    request, more than the query), so each shape is built once (issue 14)."""
    values: dict[str, Any] = {}
    for key in ("envelope_id", "letter_id", "sender", "receiver", "state", "since"):
        if getattr(f, key):
            values[key] = getattr(f, key)
    if f.after:
        values["after_at"], values["after_id"] = f.after
    sides: list[tuple[str, int]] = []  # (column, index of its EAN's parameter)
    if f.visible_to is not None:
        for i, ean in enumerate(sorted(f.visible_to)):
            values[f"ean_{i}"] = ean
            for column, named in (("sender_ean", f.sender), ("receiver_ean", f.receiver)):
                if named in (None, ean):  # else this side cannot match: the filter names another EAN for it
                    sides.append((column, i))
    shape = tuple(sorted(k for k in values if not k.startswith("ean_")))
    scope = None if f.visible_to is None else tuple(sides)
    return _search_shape(shape, scope, f.limit), values


@functools.lru_cache(maxsize=512)
def _search_shape(shape: tuple[str, ...], sides: tuple[tuple[str, int], ...] | None, limit: int) -> sa.Select[Any]:
    def param(name: str, type_: Any = None) -> Any:
        return sa.bindparam(name, type_=type_)

    # With an envelope id (near unique) the other columns are only filters of its range; with a letter id
    # they filter the letters' few matches (without statistics SQLite may read a sender's whole range).
    by_id = "envelope_id" in shape or "letter_id" in shape
    named = {  # the equality filters: (column, its parameter)
        key: (m[column], param(key, m[column].type))
        for key, column in (("envelope_id", "envelope_id"), ("sender", "sender_ean"), ("receiver", "receiver_ean"))
        if key in shape
    }
    state = (m.state, param("state", m.state.type)) if "state" in shape else None
    since = param("since", m.created_at.type) if "since" in shape else None
    after = (param("after_at", m.created_at.type), param("after_id", m.id.type)) if "after_at" in shape else None
    conds: list[Any] = []
    if "letter_id" in shape:  # a FHIR MessageHeader.id (or an OIOXML letter id): the letters' index finds it
        letter = letters.c.letter_id == param("letter_id", letters.c.letter_id.type)
        conds.append(m.id.in_(sa.select(letters.c.message_id).where(letter)))

    def page(side: tuple[Any, Any] | None = None) -> sa.Select[Any]:
        """One listing index's range (:func:`_listing_range`): its equality prefix, then the page."""
        filters = dict(named)
        if side is not None:
            filters[side[0].key] = side
        prefix: list[tuple[Any, Any]] = []
        if "envelope_id" in filters:
            prefix = [filters.pop("envelope_id")]
        elif not by_id:
            first = filters.pop("sender", None) or filters.pop("sender_ean", None)
            first = first or filters.pop("receiver", None) or filters.pop("receiver_ean", None)
            prefix = [p for p in (first, state) if p is not None]
        # the other equalities filter that range (SQLite, without statistics, would read theirs instead)
        wrap = _unindexed if by_id else _unindexed_on_sqlite
        rest = [wrap(c) == v for c, v in filters.values()]
        if state is not None and not any(p is state for p in prefix):
            rest.append(wrap(state[0]) == state[1])
        where, order = _listing_range(prefix, since, after)
        return sa.select(*META_COLUMNS).where(*where, *rest, *conds).order_by(*order).limit(_limit(limit))

    if sides is None:
        return page()
    if not sides:
        return sa.select(*META_COLUMNS).where(sa.false()).limit(0)
    ranges = [page((m[column], param(f"ean_{i}", m[column].type))) for column, i in sides]
    merged = sa.union(*(sa.select(side.subquery()) for side in ranges)).subquery()
    return sa.select(merged).order_by(merged.c.created_at.desc(), merged.c.id.desc()).limit(_limit(limit))


def _listing_range(
    prefix: list[tuple[Any, Any]], since: Any, after: tuple[Any, Any] | None
) -> tuple[list[Any], list[Any]]:
    """(WHERE, ORDER BY) of one listing index's range, newest first: the index (prefix..., created_at, id)
    read backwards from the cursor (or the newest entry) down to `since` (or the prefix's oldest entry).

    Ordered by the index's own columns, its first one compared as `= ANY(ARRAY[:v])` on PostgreSQL
    (:class:`prefix_equals`): a plain equality makes PostgreSQL drop that column from the order (it is
    constant), and then gw_messages_created yields the order too; its generic plan of the prepared
    statement (values unknown: "half the rows match") walked that index backwards and filtered, 5-9 s at
    3 M stored for a receiver or a state with no messages (bench/results/generic_plans.md). Written so,
    only the listing index yields the order, in every plan, and the B-tree still reads the array's one
    value as an equality: the cursor and `since` bound the range. The rows are the same either way."""
    where: list[Any] = [prefix_equals(prefix[0][0], prefix[0][1])] if prefix else []
    where += [c == v for c, v in prefix[1:]]
    if since is not None:
        where.append(m.created_at >= since)
    if after is not None:
        where.append(sa.tuple_(m.created_at, m.id) < sa.tuple_(*after))
    return where, [c.desc() for c in (*(c for c, _ in prefix), m.created_at, m.id)]


class prefix_equals(FunctionElement[bool]):
    """`column = value` that PostgreSQL does not treat as making the column constant: `column =
    ANY(ARRAY[value])` (an index's equality all the same). Elsewhere the plain equality."""

    inherit_cache = True
    name = "prefix_equals"  # no Boolean type: SQLite would get `... = ? = 1`


class _unindexed_on_sqlite(FunctionElement[Any]):
    """The column as it is on PostgreSQL (its statistics price the filter), `column || ''` on SQLite."""

    inherit_cache = True
    name = "unindexed_on_sqlite"


@compiles(_unindexed_on_sqlite)
def _column_as_is(element: _unindexed_on_sqlite, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(_unindexed_on_sqlite, "sqlite")
def _column_unindexed(element: _unindexed_on_sqlite, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(next(iter(element.clauses)), **kw)} || '')"


@compiles(prefix_equals)
def _prefix_equals(element: prefix_equals, compiler: Any, **kw: Any) -> str:
    column, value = element.clauses
    return f"{compiler.process(column, **kw)} = {compiler.process(value, **kw)}"


@compiles(prefix_equals, "postgresql")
def _prefix_equals_pg(element: prefix_equals, compiler: Any, **kw: Any) -> str:
    column, value = element.clauses
    return f"{compiler.process(column, **kw)} = ANY(ARRAY[{compiler.process(value, **kw)}])"


def _limit(n: int) -> sa.BindParameter[int]:
    """The page size written into the SQL: a generic plan then knows a page is `n` rows, not 10 % of
    what matches (which prices a sort of every match below the index's order)."""
    return sa.bindparam(None, n, type_=sa.Integer(), literal_execute=True)


def _unindexed(column: Any) -> Any:
    """`column || ''`: the same value, but no index on the column matches the expression."""
    return column.concat("")


def overdue_update(delivered_before: datetime, now: datetime) -> sa.Update:
    """Receipt asked for, delivered before the deadline, none come: RECEIPT_OVERDUE. Delivered, asked for
    a receipt and none yet is the partial index `gw_messages_awaiting_receipt`, by delivery time."""
    return (
        sa.update(messages)
        # counted from delivery: a receiver cannot answer what it has not received yet
        .where(sa.text(AWAITING_RECEIPT), m.delivered_at < delivered_before)
        .values(state=MessageState.RECEIPT_OVERDUE, updated_at=now)
        .returning(m.id)
    )


def alert_update(delivered_before: datetime, now: datetime) -> sa.Update:
    """Overdue and not yet alerted (partial index `gw_messages_overdue_unalerted`): alert once."""
    return (
        sa.update(messages)
        .where(sa.text(OVERDUE_UNALERTED), m.ack_requested.is_(True), m.delivered_at < delivered_before)
        .values(ack_alerted_at=now)
        .returning(m.id, m.envelope_id, m.sender_ean, m.receiver_ean, m.type, m.created_at)
    )


def _mark_delivered(conn: sa.Connection, ids: Sequence[int], now: datetime, detail: str) -> None:
    """The still-pending ones of `ids` delivered now, each with its `delivered` event."""
    conn.execute(
        sa.update(messages)
        .where(m.id.in_(ids), m.delivery_state == DeliveryState.PENDING)
        .values(
            delivery_state=DeliveryState.DELIVERED,
            delivered_at=now,
            updated_at=now,
            last_error=None,
            attempts=m.attempts + 1,
            lease_until=None,
            state=sa.case((m.state == MessageState.ACCEPTED, MessageState.DELIVERED), else_=m.state),
        )
    )
    conn.execute(
        sa.insert(events),
        [{"message_id": i, "at": now, "event": MessageEvent.DELIVERED, "detail": detail} for i in ids],
    )
