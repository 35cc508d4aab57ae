"""The receipt sweep (OIOXML and FHIR messages alike: one statement each for overdue and alert) and
retention's batches (the candidates' range, each batch's UPDATE by id) read an index range under every plan
PostgreSQL may pick (issue 14), as the listings and the tick do (test_listing_generic_plans.py).

The sweep runs every few seconds and a purge reads a batch of candidates every 100 bodies, each prepared by
asyncpg; after five executions PostgreSQL may keep a generic plan. bench/results/generic_plans.md measured
them at 3 M (partial-index reads under both plans, <= 0.13 ms); this pins it: the statements really sent
(captured from a sweep and a purge on an analysed table shaped like the scale benchmark's) are explained
both ways (EXPLAIN of a prepared UPDATE plans it without running it)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.retention import purge_bodies
from tests.unit.gateway.test_health_tick_generic_plans import AT, fill_scale_shaped
from tests.unit.gateway.test_queue_generic_plans import explained


async def sweep_plans(url: str) -> list[tuple[tuple[Any, str], str, list[str]]]:
    db = Database.open(url)
    store = MessageStore(db, lambda: AT + timedelta(minutes=1))
    sent: list[tuple[Any, str, Any]] = []
    what = ""
    try:
        await store.start()
        await fill_scale_shaped(db)

        def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
            head = statement.lstrip()
            if head.startswith(("SELECT", "UPDATE")) and "gw_messages" in head and "FROM gw_message_events" not in head:
                sent.append((what, statement, parameters))

        event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        what = "receipt sweep"
        await store.sweep_missing_receipts(timedelta(minutes=30), timedelta(minutes=90))
        what = "retention"
        result = await purge_bodies(db, AT + timedelta(minutes=1), 20, batch=500, pause=0)
        assert result.purged > 1000  # a week of final-state messages: several batches
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    finally:
        await store.stop()
        await db.close()
    kinds = {(w, " ".join(s.split())[:30]) for w, s, _ in sent}
    assert len(kinds) >= 4, kinds  # the sweep's two UPDATEs; the candidates (first, next) and the batch UPDATE
    one_each: dict[tuple[Any, str], tuple[Any, str, Any]] = {}
    for w, s, p in sent:
        one_each.setdefault((w, s), (w, s, p))  # a statement once (the batches repeat the same SQL)
    return await explained(url, list(one_each.values()))


@pytest.mark.postgres
def test_the_receipt_sweep_and_retention_read_an_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """No sequential scan; every read of gw_messages an index with an index condition: the sweep's partial
    indexes by delivery time, retention's body_kept range, a batch's rows by id."""
    problems = []
    for (what, statement), mode, plan in asyncio.run(sweep_plans(postgres_url)):
        text = "\n".join(plan)
        reads = [line for line in plan if " Scan " in line and " on gw_" in line]
        conds = [line for line in plan if "Index Cond:" in line or "Recheck Cond:" in line]
        found = ["Seq Scan"] if "Seq Scan" in text else []
        if not reads or len(conds) < len(reads):
            found.append(f"{len(reads)} reads of a table, {len(conds)} with an index condition")
        if statement.lstrip().startswith("SELECT") and what == "retention" and "gw_messages_body_kept" not in text:
            found.append("the candidates not a range of gw_messages_body_kept")
        if what == "receipt sweep" and not any(i in text for i in ("awaiting_receipt", "overdue_unalerted")):
            found.append("not a read of the sweep's partial index")
        if found:
            shown = " ".join(statement.split())
            problems.append(f"{what}, {mode}: {found} in\n  {shown[:300]}\n  " + "\n  ".join(plan))
    assert not problems, "\n\n".join(problems)
