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

import pytest

from edigate.store.retention import purge_bodies
from tests.harness.generic_plans import (
    AT,
    Plan,
    captured_statements,
    explained,
    index_read_problems,
    scale_shaped_store,
    shown,
)


def _reads_messages(statement: str) -> bool:
    head = statement.lstrip()
    return head.startswith(("SELECT", "UPDATE")) and "gw_messages" in head and "FROM gw_message_events" not in head


async def sweep_plans(url: str) -> list[Plan]:
    async with scale_shaped_store(url) as (db, store):
        with captured_statements(db, _reads_messages) as captured:
            captured.what = "receipt sweep"
            await store.sweep_missing_receipts(timedelta(minutes=30), timedelta(minutes=90))
            captured.what = "retention"
            result = await purge_bodies(db, AT + timedelta(minutes=1), 20, batch=500, pause=0)
            assert result.purged > 1000  # a week of final-state messages: several batches
    kinds = {(w, " ".join(s.split())[:30]) for w, s, _ in captured.sent}
    assert len(kinds) >= 4, kinds  # the sweep's two UPDATEs; the candidates (first, next) and the batch UPDATE
    return await explained(url, captured.once_each())


@pytest.mark.postgres
def test_the_receipt_sweep_and_retention_read_an_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """No sequential scan; every read of gw_messages an index with an index condition: the sweep's partial
    indexes by delivery time, retention's range of gw_messages_updated from its watermark, a batch's rows by id."""
    problems = []
    for (what, statement), mode, plan in asyncio.run(sweep_plans(postgres_url)):
        text = "\n".join(plan)
        found = index_read_problems(plan)
        if statement.lstrip().startswith("SELECT") and what == "retention" and "gw_messages_updated" not in text:
            found.append("the candidates not a range of gw_messages_updated")
        if what == "receipt sweep" and not any(i in text for i in ("awaiting_receipt", "overdue_unalerted")):
            found.append("not a read of the sweep's partial index")
        if found:
            problems.append(shown(what, mode, found, statement, plan))
    assert not problems, "\n\n".join(problems)
