"""The delivery worker's next messages and a mailbox fetch read their receiver's range of gw_messages_queue
under every plan PostgreSQL may pick (issue 14), as the health tick's seeks do
(test_health_tick_generic_plans.py).

asyncpg prepares each statement; after five executions PostgreSQL may plan it once for unknown parameter
values (the generic plan) and keep that. ``receiver = $1 AND delivery_state = $2 ORDER BY id LIMIT n``
then walks gw_messages_pkey and filters: for a receiver whose queue is empty that reads every stored row
(1.5 s at 3 M), on every poll of the worker. Here the statements the store really sends (captured from
the calls) are prepared on an analysed table shaped like the scale benchmark's and explained both ways."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.health_queries import read_route_signals
from edigate.store.schema import events, messages
from tests.harness.generic_plans import (
    AT,
    OTHER_EAN,
    Plan,
    captured_statements,
    explained,
    scale_shaped_rows,
    scale_shaped_store,
    shown,
)
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

RECEIVERS = (OTHER_EAN, HOSPITAL_EAN, MUNICIPALITY_EAN)  # an empty queue, 18 k waiting, 2 k waiting


def _a_queue_read(statement: str) -> bool:
    return statement.lstrip().startswith("SELECT") and "LIMIT" in statement  # not a lease's read by id


async def queue_plans(url: str) -> list[tuple[str, str, str, list[str]]]:
    """(what, plan mode, statement, plan lines) of each receiver's next messages and mailbox fetch."""
    async with scale_shaped_store(url) as (db, store):
        with captured_statements(db, _a_queue_read) as captured:
            for receiver in RECEIVERS:
                captured.what = f"next_messages {receiver}"
                found = await store.next_messages(receiver, 100)
                assert len(found) == (0 if receiver == OTHER_EAN else 100)
                assert all(q.receiver_ean == receiver for q in found)
                assert [q.id for q in found] == sorted(q.id for q in found)
                captured.what = f"mailbox_fetch {receiver}"
                leased = await store.mailbox_fetch(receiver, 100, 60)
                assert [q.id for q in leased] == [q.id for q in found]  # the same rows, in FIFO order
    assert len(captured.sent) == 2 * len(RECEIVERS), [s[:2] for s in captured.sent]
    return [(what, mode, statement, plan) for (what, statement), mode, plan in await explained(url, captured.sent)]


@pytest.mark.postgres
def test_next_messages_and_mailbox_fetch_read_the_queue_index_with_a_custom_and_a_generic_plan(
    postgres_url: str,
) -> None:
    """Each one a forward read of gw_messages_queue in the index's order: no sequential scan, no walk of
    the primary key, no sort; the mailbox fetch still locks its rows, skipping those another fetch holds."""
    plans = asyncio.run(queue_plans(postgres_url))
    problems = []
    for what, mode, statement, plan in plans:
        text = "\n".join(plan)
        found = [w for w in ("Seq Scan", "gw_messages_pkey", "Sort", "Bitmap") if w in text]
        if text.count("Index Scan using gw_messages_queue") != 1:
            found.append("not one forward read of gw_messages_queue")
        if what.startswith("mailbox") and not ("LockRows" in text and "SKIP LOCKED" in statement):
            found.append("no FOR UPDATE SKIP LOCKED")
        if found:
            problems.append(shown(what, mode, found, statement, plan, width=200))
    assert not problems, "\n\n".join(problems)


async def streak_plans(url: str) -> list[Plan]:
    """The plans of the health tick's read of when a dead-letter streak began (`_dead_letter_streaks`): a
    receiver whose letters went dead, its queue now empty, among the scale-shaped rows, each with its
    events (an acceptance; a failed attempt for every message still waiting on the municipality)."""
    db = Database.open(url)
    try:
        await db.migrate()
        data = scale_shaped_rows()
        dead = {"state": "failed", "delivery_state": "failed", "attempts": 3, "last_error": "HTTP 503"}
        dead |= {"created_at": AT - timedelta(minutes=30), "updated_at": AT - timedelta(minutes=20)}
        data += [data[0] | dead | {"envelope_id": f"D{i}", "receiver_ean": OTHER_EAN} for i in range(5)]
        async with db.engine.begin() as conn:
            for start in range(0, len(data), 10_000):
                await conn.execute(sa.insert(messages), data[start : start + 10_000])
            rows = (await conn.execute(sa.select(messages.c.id, messages.c.receiver_ean, messages.c.state))).all()
            happened = [{"message_id": i, "at": AT, "event": "accepted", "detail": None} for i, _, _ in rows]
            happened += [
                {"message_id": i, "at": AT - timedelta(minutes=25), "event": "attempt_failed", "detail": None}
                for i, receiver, state in rows
                if receiver == OTHER_EAN or (receiver == MUNICIPALITY_EAN and state == "accepted")
            ]
            for start in range(0, len(happened), 10_000):
                await conn.execute(sa.insert(events), happened[start : start + 10_000])
            await conn.exec_driver_sql("ANALYZE")
        with captured_statements(db, lambda statement: "JOIN gw_messages" in statement) as captured:
            captured.what = "streak"
            signals = await read_route_signals(db, RECEIVERS, AT + timedelta(minutes=1))
        streak = [r for r in signals.routes if r.receiver == OTHER_EAN]
        assert [(r.sender, r.consecutive_failures, r.dead_letters) for r in streak] == [(HOSPITAL_EAN, 5, 5)]
    finally:
        await db.close()
    assert len(captured.sent) == 1, captured.sent
    return await explained(url, captured.sent)


@pytest.mark.postgres
def test_the_dead_letter_streaks_start_reads_the_queue_index_with_a_custom_and_a_generic_plan(
    postgres_url: str,
) -> None:
    """The receiver's dead letters from gw_messages_queue (receiver, 'failed'), each one's events from
    gw_events_message: never every failed attempt of every message, never a walk of the primary key."""
    problems = []
    for (_, statement), mode, plan in asyncio.run(streak_plans(postgres_url)):
        text = "\n".join(plan)
        found = [w for w in ("Seq Scan", "gw_messages_pkey") if w in text]
        found += [f"no {index}" for index in ("gw_messages_queue", "gw_events_message") if index not in text]
        if found:
            problems.append(f"{mode}: {found} in\n  {' '.join(statement.split())[:200]}\n  " + "\n  ".join(plan))
    assert not problems, "\n\n".join(problems)
