"""The health tick's read of the queues (issue 14): every route and message type with waiting messages,
its oldest message exactly, and its count exactly up to PENDING_COUNT_CAP, then "over" (cap + 1), so a
dead receiver's long queue does not make every tick slower. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from edigate.health import PENDING_COUNT_CAP, HealthState, HealthThresholds, assess, pending_text
from edigate.store.db import Database
from edigate.store.health_queries import read_route_signals
from edigate.store.schema import messages
from tests.harness.message_rows import message_row
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

OTHER = "5790000123454"
LAB = "5790000192830"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def row(i: int, sender: str, receiver: str, mtype: str, minutes_ago: int, delivery: str = "pending") -> dict[str, Any]:
    return message_row(
        f"ENV{i}",
        sender,
        receiver,
        NOW - timedelta(minutes=minutes_ago),
        type=mtype,
        ack_requested=False,
        state="accepted" if delivery == "pending" else "delivered",
        delivery_state=delivery,
    )


def rows() -> list[dict[str, Any]]:
    out = [
        row(1, HOSPITAL_EAN, MUNICIPALITY_EAN, "XDIS91", 50),
        row(2, HOSPITAL_EAN, MUNICIPALITY_EAN, "XDIS91", 70),  # the oldest of the type
        row(3, HOSPITAL_EAN, MUNICIPALITY_EAN, "XDIS91", 10),
        row(4, HOSPITAL_EAN, MUNICIPALITY_EAN, "XDIS20", 5),
        row(5, HOSPITAL_EAN, MUNICIPALITY_EAN, "XDIS20", 6),
        row(6, HOSPITAL_EAN, MUNICIPALITY_EAN, "XDIS91", 500, delivery="delivered"),  # not waiting
        row(7, HOSPITAL_EAN, OTHER, "XDIS91", 30),
        row(8, HOSPITAL_EAN, LAB, "XDIS91", 900),  # a receiver the tick was not asked about
    ]
    # a dead receiver's long queue: more than the cap, the oldest one 3 hours old
    out += [row(100 + i, LAB, MUNICIPALITY_EAN, "XDIS91", 180 - i % 60) for i in range(PENDING_COUNT_CAP + 50)]
    return out


async def read(url: str) -> Any:
    db = Database.open(url)
    try:
        await db.migrate()
        async with db.engine.begin() as conn:
            await conn.execute(sa.insert(messages), rows())
        return await read_route_signals(db, [MUNICIPALITY_EAN, OTHER], NOW)
    finally:
        await db.close()


def test_every_waiting_route_and_type_its_oldest_and_a_bounded_count(storage_url: str) -> None:
    signals = asyncio.run(read(storage_url))
    by_route = {(r.sender, r.receiver): r for r in signals.routes}
    assert set(by_route) == {(HOSPITAL_EAN, MUNICIPALITY_EAN), (LAB, MUNICIPALITY_EAN), (HOSPITAL_EAN, OTHER)}

    hospital = by_route[(HOSPITAL_EAN, MUNICIPALITY_EAN)]
    assert hospital.pending_count == 5
    assert {t: (s.pending_count, s.oldest_pending_at) for t, s in hospital.by_type.items()} == {
        "XDIS91": (3, NOW - timedelta(minutes=70)),
        "XDIS20": (2, NOW - timedelta(minutes=6)),
    }
    assert hospital.oldest_pending_at == NOW - timedelta(minutes=70)
    assert by_route[(HOSPITAL_EAN, OTHER)].pending_count == 1

    dead = by_route[(LAB, MUNICIPALITY_EAN)]
    assert dead.pending_count == PENDING_COUNT_CAP + 1, "counted up to the cap, then 'more'"
    assert dead.oldest_pending_at == NOW - timedelta(minutes=180), "the oldest is exact whatever the count"
    depth, oldest = signals.queues[MUNICIPALITY_EAN]
    assert depth == 5 + PENDING_COUNT_CAP + 1 and oldest == NOW - timedelta(minutes=180)

    # what the desk reads: the route is down for its 3-hour-old message, and the count says "over"
    state, reasons = assess(dead, NOW, HealthThresholds())
    assert state is HealthState.DOWN
    assert any(f"over {PENDING_COUNT_CAP} venter" in r.text for r in reasons), reasons
    assert pending_text(dead.pending_count) == f"over {PENDING_COUNT_CAP}"
    assert pending_text(PENDING_COUNT_CAP) == str(PENDING_COUNT_CAP)


async def statements_of_a_tick(url: str, waiting: int) -> list[str]:
    """The SQL a tick sends for one dead receiver's queue of `waiting` messages (plus delivered traffic)."""
    db = Database.open(url)
    sent: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    try:
        await db.migrate()
        async with db.engine.begin() as conn:
            await conn.execute(sa.delete(messages))  # PostgreSQL: the same database for both runs
            await conn.execute(
                sa.insert(messages), [row(i, LAB, MUNICIPALITY_EAN, "XDIS91", 60) for i in range(waiting)]
            )
            await conn.execute(
                sa.insert(messages), [row(10**6 + i, HOSPITAL_EAN, OTHER, "XDIS91", 30, "delivered") for i in range(3)]
            )
        await read_route_signals(db, [MUNICIPALITY_EAN, OTHER], NOW)  # the pool's connection is opened
        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
        signals = await read_route_signals(db, [MUNICIPALITY_EAN, OTHER], NOW)
        assert signals.queues[MUNICIPALITY_EAN][0] == min(waiting, PENDING_COUNT_CAP + 1)
        return sent
    finally:
        await db.close()


def test_a_tick_is_three_round_trips_however_long_the_queue(storage_url: str) -> None:
    """Under load a tick's cost is its round trips (each waits for the database's process to be scheduled),
    so they are few and fixed: the queues in two rounds of seeks (first groups, heads, last deliveries;
    then the next groups and the counts), and every recent outcome in one statement. The same statements
    for 3 waiting messages as for more than the cap; no BEGIN/COMMIT around them on PostgreSQL either."""
    short = asyncio.run(statements_of_a_tick(storage_url, 3))
    long = asyncio.run(statements_of_a_tick(storage_url, PENDING_COUNT_CAP + 50))
    assert len(short) == 3, short
    assert [" ".join(s.split()) for s in long] == [" ".join(s.split()) for s in short]
    assert not any(s.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")) for s in short)
