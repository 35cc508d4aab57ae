"""The health tick's routes with healthy traffic (issue 14): a first tick reads the receipt window once, a
later one only the rows added since (by id), and both give the routes a read of the whole window gives.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from edigate.store.db import Database
from edigate.store.health_queries import RecentRoutes, read_route_signals
from edigate.store.schema import messages
from tests.harness.message_rows import message_row
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

LAB = "5790000192830"
LATE = "5790000123454"
GONE = "5790001382445"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
#: the hour's healthy traffic on the busy route (each tick before this change grouped all of it)
BUSY = 3_000


def delivered(i: int, sender: str, minutes_ago: float) -> dict[str, Any]:
    return message_row(f"RR{i}", sender, MUNICIPALITY_EAN, NOW - timedelta(minutes=minutes_ago), ack_requested=False)


def known(signals: Any) -> set[tuple[str, str]]:
    return {(r.sender, r.receiver) for r in signals.routes}


async def scenario(url: str) -> dict[str, Any]:
    db = Database.open(url)
    params: list[dict[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "AS kind" in statement:  # the recent outcomes' statement: what its range of new ids was
            params.append(dict(context.compiled_parameters[0]))

    out: dict[str, Any] = {}
    try:
        await db.migrate()
        rows = [delivered(i, HOSPITAL_EAN, 1 + 58 * i / BUSY) for i in range(BUSY)]
        rows += [delivered(BUSY, LAB, 55), delivered(BUSY + 1, GONE, 70)]  # a quiet route; one out of the window
        async with db.engine.begin() as conn:
            await conn.execute(sa.insert(messages), rows)
        event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        recent = RecentRoutes()

        async def tick(at: datetime) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
            """(the routes of a tick with the loop's memory, those of a read of the whole window)"""
            kept = await read_route_signals(db, [MUNICIPALITY_EAN], at, recent_routes=recent)
            whole = await read_route_signals(db, [MUNICIPALITY_EAN], at)
            return known(kept), known(whole)

        out["first"] = await tick(NOW)
        async with db.engine.begin() as conn:  # committed late: its time is before the first tick's
            await conn.execute(sa.insert(messages), [delivered(BUSY + 2, LATE, 59)])
        out["later"] = await tick(NOW + timedelta(minutes=1))
        out["later_params"] = params[-2]  # the kept tick's (the whole-window read came after it)
        async with db.engine.connect() as conn:
            after, upto = out["later_params"]["new_after"], out["later_params"]["new_upto"]
            out["later_range_rows"] = (
                await conn.execute(sa.select(sa.func.count()).where(messages.c.id > after, messages.c.id <= upto))
            ).scalar()
        out["past_window"] = await tick(NOW + timedelta(minutes=56))
        out["clock_back"] = await tick(NOW - timedelta(minutes=10))
        out["clock_back_params"] = params[-2]
    finally:
        await db.close()
    return out


def test_a_later_tick_reads_only_the_new_rows_and_knows_the_same_routes(storage_url: str) -> None:
    got = asyncio.run(scenario(storage_url))
    busy, lab, late = (HOSPITAL_EAN, MUNICIPALITY_EAN), (LAB, MUNICIPALITY_EAN), (LATE, MUNICIPALITY_EAN)

    kept, whole = got["first"]
    assert kept == whole == {busy, lab}  # the route 70 minutes old is not in the hour

    # the later tick read the ids after the first tick's newest: the one row added since, not the hour's
    # 3,001, and still knows the route whose only message was committed with an earlier time
    assert "new_after" in got["later_params"]
    assert got["later_range_rows"] == 1
    kept, whole = got["later"]
    assert kept == whole == {busy, lab, late}

    # 56 minutes on: the quiet route and the late one left the window, the busy one's newest did not
    kept, whole = got["past_window"]
    assert kept == whole == {busy}

    # a clock that went back: the memory is dropped and the window read whole again
    assert got["clock_back_params"].get("new_after") is None
    kept, whole = got["clock_back"]
    assert kept == whole
