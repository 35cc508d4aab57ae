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
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from edigate.clock import Clock
from edigate.store import schema as _schema  # noqa: F401  (registers the gateway migrations)
from edigate.store.db import Database
from edigate.store.model import ACK_OVERDUE, ACKNOWLEDGED, DELIVERED, FAILED, REFUSED, REJECTED
from edigate.store.schema import events, messages

FINAL_STATES = (ACKNOWLEDGED, REFUSED, FAILED, REJECTED, ACK_OVERDUE)
PURGED_EVENT = "body_purged"

log = structlog.get_logger()

m = messages.c


def purgeable(cutoff: datetime) -> sa.ColumnElement[bool]:
    """The rows whose body may go now."""
    return sa.and_(
        m.updated_at < cutoff,
        m.delivery_state != "pending",
        sa.or_(m.state.in_(FINAL_STATES), sa.and_(m.state == DELIVERED, m.ack_requested.is_(False))),
        sa.func.length(m.body) > 0,
    )


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    days: int
    purged: int  # bodies emptied (dry run: bodies that would be)
    dry_run: bool


async def purge_bodies(
    database: Database, now: datetime, days: int, *, dry_run: bool = False, batch: int = 500
) -> PurgeResult:
    """Empty the bodies of final-state messages last changed more than `days` days before `now`."""
    if days < 1:
        raise ValueError("retention days must be at least 1")
    cutoff = now - timedelta(days=days)
    if dry_run:
        async with database.engine.connect() as conn:
            count = (
                await conn.execute(sa.select(sa.func.count()).select_from(messages).where(purgeable(cutoff)))
            ).scalar_one()
        return PurgeResult(cutoff, days, int(count), True)

    purged = 0
    last_id = 0
    while True:
        async with database.engine.begin() as conn:
            if database.dialect == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading
            ids = list(
                (
                    await conn.execute(
                        sa.select(m.id).where(m.id > last_id, purgeable(cutoff)).order_by(m.id).limit(batch)
                    )
                ).scalars()
            )
            if not ids:
                break
            last_id = ids[-1]
            done = list(
                (
                    await conn.execute(
                        sa.update(messages)
                        .where(m.id.in_(ids), purgeable(cutoff))
                        .values(body=b"")
                        .returning(m.id)
                    )
                ).scalars()
            )
            if done:
                await conn.execute(
                    sa.insert(events),
                    [
                        {
                            "message_id": i,
                            "at": now,
                            "event": PURGED_EVENT,
                            "detail": f"retention: {days} days",
                        }
                        for i in done
                    ],
                )
            purged += len(done)
    return PurgeResult(cutoff, days, purged, False)


# ------------------------------------------------------------------------------------- in the service


async def purge_periodically(database: Database, clock: Clock, days: int, interval_minutes: float) -> None:
    """Purge past-retention bodies now and every `interval_minutes`, until cancelled.

    Idempotent and race-safe, so two instances running it is harmless (only wasted work).
    """
    while True:
        try:
            result = await purge_bodies(database, clock(), days)
            if result.purged:
                log.info("retention_bodies_purged", count=result.purged, days=days)
        except Exception as exc:  # the next round tries again; never kill the service for this
            log.warning("retention_purge_failed", error=type(exc).__name__)
        await asyncio.sleep(interval_minutes * 60)
