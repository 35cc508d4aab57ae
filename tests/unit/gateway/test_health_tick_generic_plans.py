"""Every statement of the health tick (the route signals and the new receipts) reads its index under every
plan PostgreSQL may pick (issue 14).

asyncpg prepares each statement; after five executions PostgreSQL may plan it once for unknown parameter
values (the generic plan) and keep that. On a store shaped like the scale benchmark's (a hospital with
receipts queued and none delivered, a municipality with a tenth of its messages waiting) the tick took
2 s at 1 M stored with the values known, and 6-10 s with a generic plan: "the hospital's last delivery"
walked the primary key backwards through every row, and the recent outcomes read the whole table; so did
the new receipts' read (9.3 s at 3 M; bench/results/health_tick_stored.md). Here the statements a tick
really sends (captured from the calls) are prepared on an analysed table and explained both ways."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from edigate.store.health_queries import RecentRoutes, read_new_receipts, read_route_signals
from tests.harness.generic_plans import AT, OTHER_EAN, captured_statements, explained, scale_shaped_store
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN


async def tick_plans(url: str) -> list[tuple[str, str, list[str]]]:
    """(statement, plan mode, plan lines) for every statement of one tick, custom and generic."""
    async with scale_shaped_store(url, started=False) as (db, _):
        with captured_statements(db) as captured:
            recent = RecentRoutes()  # a first tick reads the window's routes, a later one the rows added since
            for later in (0, 1):
                signals = await read_route_signals(
                    db,
                    [MUNICIPALITY_EAN, HOSPITAL_EAN, OTHER_EAN],
                    AT + timedelta(minutes=1 + later),
                    recent_routes=recent,
                )
                assert {r.receiver for r in signals.routes if r.pending_count} == {MUNICIPALITY_EAN, HOSPITAL_EAN}
            await read_new_receipts(db, AT - timedelta(minutes=5), AT + timedelta(minutes=1))  # same loop
    sent = captured.once_each()
    return [(statement, mode, plan) for (_, statement), mode, plan in await explained(url, sent)]


def pkey_walks(plan: list[str]) -> list[str]:
    """The plan's reads of gw_messages_pkey other than the two a tick may make: the newest id (one entry
    from the end, under a Limit) and the rows added since the last tick (a range of ids)."""
    out = []
    for i, line in enumerate(plan):
        if "gw_messages_pkey" not in line:
            continue
        newest = "Index Only Scan Backward using gw_messages_pkey" in line and "Limit" in plan[i - 1]
        since_last = "Index Scan using gw_messages_pkey" in line and "Index Cond: ((id > " in plan[i + 1]
        if not (newest or since_last):
            out.append(line)
    return out


@pytest.mark.postgres
def test_every_tick_statement_reads_its_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """No sequential scan, never a walk of the primary key, the seeks without a sort, and each queue seek
    a read of gw_messages_queue (the head forwards, the last delivery backwards). An index range may be
    read through a bitmap (PostgreSQL's choice for a few hundred rows: still that range only)."""
    plans = asyncio.run(tick_plans(postgres_url))
    # three statements a tick (the recent outcomes of a first and of a later tick differ) and the receipt
    # latencies' one, each both ways
    assert len(plans) == 2 * 5, [p[0][:60] for p in plans]
    problems = []
    for statement, mode, plan in plans:
        text = "\n".join(plan)
        found = ["Seq Scan"] if "Seq Scan" in text else []
        found += [f"a walk of the primary key: {line.strip()}" for line in pkey_walks(plan)]
        if "seek" in statement:  # the rounds of seeks: index entries in the index's order, no sort
            found += ["Sort"] if "Sort" in text else []
        # the new receipts: a range of (state, created_at), not a third of the table by time, every state
        receipts = statement.lstrip().startswith("SELECT gw_messages.type, gw_messages.delivered_at")
        if receipts and "gw_messages_state_created" not in text:
            found.append("not a range of gw_messages_state_created (state, created_at)")
        if "seek" in statement and "delivered_at" in statement:  # round one: heads and last deliveries
            if text.count("Index Scan using gw_messages_queue") != 3:
                found.append("not 3 forward seeks of gw_messages_queue (the heads)")
            if text.count("Index Scan Backward using gw_messages_queue") != 3:
                found.append("not 3 backward seeks of gw_messages_queue (the last deliveries)")
        if found:
            problems.append(f"{mode}: {found} in\n  {' '.join(statement.split())[:160]}\n  " + "\n  ".join(plan))
    assert not problems, "\n\n".join(problems)
