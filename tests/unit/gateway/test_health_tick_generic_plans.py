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
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from edigate.store.db import Database
from edigate.store.health_queries import read_new_receipts, read_route_signals
from edigate.store.schema import messages
from tests.harness.message_rows import message_row
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

OTHER_EAN = "5790000123454"  # asked about, has no messages at all
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ROWS = 40_000


def scale_shaped_rows() -> list[dict[str, Any]]:
    """Like bench/scale_store.py's fill: originals hospital -> municipality, 45 % delivered and
    acknowledged, 10 % waiting; their receipts municipality -> hospital, 45 %, all queued, none delivered."""
    out: list[dict[str, Any]] = []
    for i in range(ROWS):
        at = AT - timedelta(seconds=60 * ROWS - 60 * i)  # a month, oldest first (ids follow time)
        kind = i % 20
        receipt = kind >= 11
        waiting = receipt or kind >= 9
        out.append(
            message_row(
                f"E{i}",
                MUNICIPALITY_EAN if receipt else HOSPITAL_EAN,
                HOSPITAL_EAN if receipt else MUNICIPALITY_EAN,
                at,
                type="XCTL03" if receipt else "XDIS91",
                receipt=receipt,
                state="accepted" if waiting else "acknowledged",
                delivery_state="pending" if waiting else "delivered",
                delivered_at=None if waiting else at,
                receipt_at=None if waiting else at + timedelta(seconds=30),
            )
        )
    return out


async def fill_scale_shaped(db: Database) -> None:
    """The scale-shaped rows in gw_messages, then ANALYZE: the planner sees the benchmark's proportions."""
    data = scale_shaped_rows()
    async with db.engine.begin() as conn:
        for start in range(0, ROWS, 10_000):
            await conn.execute(sa.insert(messages), data[start : start + 10_000])
        await conn.exec_driver_sql("ANALYZE gw_messages")


def literal(value: Any) -> str:
    """A parameter as SQL text for EXECUTE (the tick's parameters: EANs, states, ints, naive UTC times)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    return "'" + str(value).replace("'", "''") + "'"


async def tick_plans(url: str) -> list[tuple[str, str, list[str]]]:
    """(statement, plan mode, plan lines) for every statement of one tick, custom and generic."""
    db = Database.open(url)
    sent: list[tuple[str, Any]] = []
    try:
        await db.migrate()
        await fill_scale_shaped(db)

        def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
            sent.append((statement, parameters))

        event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        signals = await read_route_signals(db, [MUNICIPALITY_EAN, HOSPITAL_EAN, OTHER_EAN], AT + timedelta(minutes=1))
        assert {r.receiver for r in signals.routes if r.pending_count} == {MUNICIPALITY_EAN, HOSPITAL_EAN}
        await read_new_receipts(db, AT - timedelta(minutes=5), AT + timedelta(minutes=1))  # same loop, each tick
    finally:
        await db.close()

    plans = []
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            for statement, parameters in sent:
                prepared = await conn.prepare(statement)
                args = ", ".join(literal(p) for p in parameters)
                rows = await conn.fetch(f"EXPLAIN EXECUTE {prepared.get_name()}({args})")
                plans.append((statement, mode, [str(r[0]) for r in rows]))
    finally:
        await conn.close()
    return plans


@pytest.mark.postgres
def test_every_tick_statement_reads_its_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """No sequential scan, never a walk of the primary key, the seeks without a sort, and each queue seek
    a read of gw_messages_queue (the head forwards, the last delivery backwards). An index range may be
    read through a bitmap (PostgreSQL's choice for a few hundred rows: still that range only)."""
    plans = asyncio.run(tick_plans(postgres_url))
    # three statements a tick and the receipt latencies' one, each both ways
    assert len(plans) == 2 * 4, [p[0][:60] for p in plans]
    problems = []
    for statement, mode, plan in plans:
        text = "\n".join(plan)
        found = [w for w in ("Seq Scan", "gw_messages_pkey") if w in text]
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
