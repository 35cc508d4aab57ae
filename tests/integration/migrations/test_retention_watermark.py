"""Revision 0004 on a store that has been purged before (issue 14): retention's partial index on kept bodies
gives way to an index by last change and a watermark, which starts just before the oldest body still kept;
so the first pass after the upgrade purges what is due and reads nothing that was purged before it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from edigate import migrations
from edigate.store.db import Database
from edigate.store.retention import purge_bodies, read_watermark
from edigate.store.schema import messages
from tests.harness.message_rows import message_row
from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def rows() -> list[dict[str, object]]:
    """By last change: 3 purged long ago, then 4 kept and final (acknowledged), then 1 kept but queued."""
    out = [
        message_row(f"P{i}", HOSPITAL, MUNICIPALITY, T0 + timedelta(hours=i), state="acknowledged", body=b"")
        for i in range(3)
    ]
    out += [
        message_row(f"K{i}", HOSPITAL, MUNICIPALITY, T0 + timedelta(days=1, hours=i), state="acknowledged")
        for i in range(4)
    ]
    out.append(
        message_row("Q", HOSPITAL, MUNICIPALITY, T0 + timedelta(days=2), state="accepted", delivery_state="pending")
    )
    return out


async def upgraded(url: str) -> tuple[set[str | None], tuple[datetime, int] | None, int, int, dict[str, bool]]:
    db = Database.open(url)
    try:
        async with db.engine.connect() as conn:
            async with conn.begin():
                await conn.run_sync(lambda c: command.upgrade(migrations.config(c), "0003"))
            async with conn.begin():
                await conn.execute(sa.insert(messages), rows())
        await db.migrate()
        async with db.engine.connect() as conn:
            indexes = await conn.run_sync(lambda c: {i["name"] for i in sa.inspect(c).get_indexes("gw_messages")})
        watermark = await read_watermark(db)
        first = await purge_bodies(db, T0 + timedelta(days=40), 30, pause=0)
        again = await purge_bodies(db, T0 + timedelta(days=40), 30, pause=0)
        async with db.engine.connect() as conn:
            kept = {
                str(r.envelope_id): bool(r.size)
                for r in await conn.execute(
                    sa.select(messages.c.envelope_id, sa.func.length(messages.c.body).label("size"))
                )
            }
        return indexes, watermark, first.purged, again.purged, kept
    finally:
        await db.close()


def test_the_watermark_starts_before_the_oldest_kept_body(empty_storage_url: str) -> None:
    indexes, watermark, first, again, kept = asyncio.run(upgraded(empty_storage_url))
    assert "gw_messages_updated" in indexes and "gw_messages_body_kept" not in indexes
    assert watermark is not None
    oldest_kept = T0 + timedelta(days=1)
    assert T0 + timedelta(hours=2) < watermark[0] <= oldest_kept  # past the purged rows, not past K0
    assert (first, again) == (4, 0)
    assert kept == {
        "P0": False,
        "P1": False,
        "P2": False,
        "K0": False,
        "K1": False,
        "K2": False,
        "K3": False,
        "Q": True,
    }
