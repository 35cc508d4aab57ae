"""Retention: message bodies (the CPR and the health data) are purged N days after a message's life ended.

Only the body goes; the metadata (envelope id, EANs, type, states, letters, history) stays for the
audit trail, the body's size stays in `body_size`, and the message's history gets a `body_purged` event.
A message is purged only in a final state, when nothing will ever send its body again:

- `acknowledged`, `refused` (a receipt came), `failed` (dead letter), `rejected` (never queued),
  `ack_overdue` (no receipt after the alarm; by N days none is coming);
- `delivered` when no receipt was asked for (receipts themselves, and messages without pluspositivkvitt).

and never while it is queued (`delivery_state = 'pending'`, e.g. after a retry). The age is counted from
the message's last change (`updated_at`), so a late receipt restarts the clock. Safe while the service
runs: each UPDATE re-checks the conditions.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from edigate.clock import Clock
from edigate.store.db import Database
from edigate.store.schema import events, messages, retention_watermark
from edigate.store.states import DeliveryState, MessageState

FINAL_STATES = (
    MessageState.ACKNOWLEDGED,
    MessageState.REFUSED,
    MessageState.FAILED,
    MessageState.REJECTED,
    MessageState.RECEIPT_OVERDUE,
)
PURGED_EVENT = "body_purged"

log = structlog.get_logger()

m = messages.c
w = retention_watermark.c
WATERMARK_JOB = "bodies"


def purgeable(cutoff: datetime) -> sa.ColumnElement[bool]:
    """The rows whose body may go now (checked on each row of a batch, not an index: no index mentions
    the body, so emptying it is a HOT update on PostgreSQL; schema.py)."""
    state = m.state.concat("")  # the same value, but no index on state competes with gw_messages_updated
    return sa.and_(
        m.updated_at < cutoff,
        sa.func.length(m.body) > 0,
        m.delivery_state != DeliveryState.PENDING,
        sa.or_(state.in_(FINAL_STATES), sa.and_(state == MessageState.DELIVERED, m.ack_requested.is_(False))),
    )


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    days: int
    purged: int  # bodies emptied (dry run: bodies that would be)
    dry_run: bool
    batches: int = 0
    seconds: float = 0.0
    writing_seconds: float = 0.0  # inside write transactions; the rest the purge left to the service


BATCH_ROWS = 100  # bodies per write transaction: each holds the write lock for a few milliseconds
BATCH_PAUSE_SECONDS = 0.02  # between transactions at least: the service's writer gets the lock in between
#: The share of time a purge may spend writing: after each batch it pauses (1 - WRITE_SHARE) / WRITE_SHARE
#: times as long as the batch took, so on a busy machine, where a batch takes longer, it yields longer too
#: and the service's commits never queue behind a train of batches (issue 14: ingest p99 while purging).
WRITE_SHARE = 0.5


Key = tuple[datetime, int]  # (updated_at, id): a position in gw_messages_updated


def candidates(cutoff: datetime, after: Key | None, limit: int) -> sa.Select[Any]:
    """The next `limit` rows changed before `cutoff`, in (updated_at, id) order after `after` (a range of
    gw_messages_updated; the query the plan tests pin), each with whether its body may go now. A pass
    starts at the watermark, so it reads only what changed since the last pass's cutoff."""
    stmt = sa.select(m.id, m.updated_at, purgeable(cutoff).label("due")).where(m.updated_at < cutoff)
    if after is not None:
        stmt = stmt.where(sa.tuple_(m.updated_at, m.id) > sa.tuple_(*after))
    return stmt.order_by(m.updated_at, m.id).limit(limit)


def due_count(cutoff: datetime, after: Key | None) -> sa.Select[Any]:
    """How many bodies a pass from `after` would purge (the dry run)."""
    stmt = sa.select(sa.func.count()).select_from(messages).where(purgeable(cutoff))
    if after is not None:
        stmt = stmt.where(sa.tuple_(m.updated_at, m.id) > sa.tuple_(*after))
    return stmt


async def read_watermark(database: Database) -> Key | None:
    """Where the last pass got to; None (read from the start) when the store has no watermark row."""
    async with database.engine.connect() as conn:
        row = (await conn.execute(sa.select(w.updated_at, w.message_id).where(w.job == WATERMARK_JOB))).first()
    return None if row is None else (row.updated_at, int(row.message_id))


def advance(key: Key) -> sa.Update:
    """Move the watermark forward to `key`, never back (two purges at once each only raise it)."""
    return (
        sa.update(retention_watermark)
        .where(w.job == WATERMARK_JOB, sa.tuple_(w.updated_at, w.message_id) < sa.tuple_(*key))
        .values(updated_at=key[0], message_id=key[1])
    )


async def purge_bodies(
    database: Database,
    now: datetime,
    days: int,
    *,
    dry_run: bool = False,
    batch: int = BATCH_ROWS,
    pause: float = BATCH_PAUSE_SECONDS,
    write_share: float = WRITE_SHARE,
) -> PurgeResult:
    """Empty the bodies of final-state messages last changed more than `days` days before `now`.

    In small transactions: the candidates are read without a lock (an index range), then each batch is
    one short write transaction that re-checks every condition, then a pause of at least `pause` and long
    enough that writing takes at most `write_share` of the time; so a purge of millions of bodies beside
    the running service never holds the write lock for long, nor often (issue 14).

    What the purge writes is its own cost, not the service's: on SQLite it checkpoints the WAL after each
    batch (else a service commit that finds the WAL past its threshold does it, and its caller waits); on
    PostgreSQL its commits do not wait for the WAL flush (`synchronous_commit = off`: a crash can lose
    the last purged batches, which the next purge redoes; nothing else is at stake)."""
    if not 0 < write_share <= 1:
        raise ValueError("write_share must be in (0, 1]")
    if days < 1:
        raise ValueError("retention days must be at least 1")
    cutoff = now - timedelta(days=days)
    started = time.perf_counter()
    after = await read_watermark(database)
    if dry_run:
        async with database.engine.connect() as conn:
            count = (await conn.execute(due_count(cutoff, after))).scalar_one()
        return PurgeResult(cutoff, days, int(count), True)

    purged = batches = 0
    writing = 0.0
    end: Key = (cutoff, 0)  # every row before the cutoff read: the watermark's next position
    while True:
        async with database.engine.connect() as conn:
            rows = (await conn.execute(candidates(cutoff, after, batch))).all()
        last = len(rows) < batch
        reached = end if last else (rows[-1].updated_at, int(rows[-1].id))
        ids = [r.id for r in rows if r.due]
        if not ids:
            # nothing to purge here (e.g. queued messages): no write, only the watermark at the end
            if last:
                if after is None or after < end:
                    async with database.engine.begin() as conn:
                        await conn.execute(advance(end))
                break
            after = reached
            await asyncio.sleep(0)
            continue
        after = reached
        batch_started = time.perf_counter()
        async with database.engine.begin() as conn:
            if database.dialect == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            done = list(
                (
                    await conn.execute(
                        sa.update(messages).where(m.id.in_(ids), purgeable(cutoff)).values(body=b"").returning(m.id)
                    )
                ).scalars()
            )
            if done:
                await conn.execute(
                    sa.insert(events),
                    [
                        {"message_id": i, "at": now, "event": PURGED_EVENT, "detail": f"retention: {days} days"}
                        for i in done
                    ],
                )
            await conn.execute(advance(reached))
        if database.dialect == "sqlite":
            await checkpoint(database)
        took = time.perf_counter() - batch_started
        writing += took
        purged += len(done)
        batches += 1
        if last:
            break
        await asyncio.sleep(max(pause, took * (1 - write_share) / write_share))
    if purged and database.dialect == "sqlite":
        await release_space(database, pause=pause)
    return PurgeResult(cutoff, days, purged, False, batches, round(time.perf_counter() - started, 3), round(writing, 3))


async def checkpoint(database: Database) -> None:
    """SQLite: copy the WAL back into the database file now, in the purge's own connection (PASSIVE:
    it waits for no one and no one waits for it), so that the WAL the purge wrote stays below the
    auto-checkpoint threshold at which a service commit would do this work before answering."""
    async with database.engine.connect() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


async def release_space(database: Database, *, pages: int = 1000, pause: float = BATCH_PAUSE_SECONDS) -> int:
    """SQLite: give the freed pages back to the file system, `pages` at a time (one short write each),
    when the file was created with auto_vacuum=INCREMENTAL (edigate sets it on new files). An older file
    keeps its free pages for new messages; `VACUUM` (service stopped) shrinks it, see docs/operations.md."""
    released = 0
    async with database.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA auto_vacuum")).scalar()
    if mode != 2:  # 2 = incremental
        return 0
    while True:
        async with database.engine.connect() as conn:
            free = int((await conn.exec_driver_sql("PRAGMA freelist_count")).scalar() or 0)
            if free == 0:
                return released
            # The pragma frees one page per step of its statement and returns no rows, so the driver's
            # execute() steps it once; executescript() steps it to the end (it commits first: nothing pending).
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver is not None  # a live pooled connection
            await driver.executescript(f"PRAGMA incremental_vacuum({int(pages)})")
        released += min(free, pages)
        await asyncio.sleep(pause)


# ------------------------------------------------------------------------------------- in the service


async def purge_periodically(
    database: Database, clock: Clock, days: int, interval_minutes: float, first_pass: asyncio.Event | None = None
) -> None:
    """Purge past-retention bodies now and every `interval_minutes`, until cancelled.

    `first_pass` is set once the pass's candidate read has run once (its statement compiled, a pooled
    connection open), before anything is purged: the service starts answering after it, and a start with a
    backlog of bodies to purge must not wait for the whole purge (it runs in bounded batches beside traffic).

    Idempotent and race-safe, so two instances running it is harmless (only wasted work).
    """
    if first_pass is not None:
        await _warm(database, clock(), days)
        first_pass.set()
    while True:
        try:
            result = await purge_bodies(database, clock(), days)
            if result.purged:
                log.info("retention_bodies_purged", count=result.purged, days=days)
        except Exception as exc:  # the next round tries again; never kill the service for this
            log.warning("retention_purge_failed", error=type(exc).__name__)
        await asyncio.sleep(interval_minutes * 60)


async def _warm(database: Database, now: datetime, days: int) -> None:
    """The purge's candidate read once, read-only (the warm start's part of retention)."""
    try:
        after = await read_watermark(database)  # the pass's first read, and its statement, from the watermark
        async with database.engine.connect() as conn:
            await conn.execute(candidates(now - timedelta(days=max(days, 1)), after, 1))
    except Exception as exc:  # the pass itself reports a store that does not answer
        log.warning("retention_warm_failed", error=type(exc).__name__)
