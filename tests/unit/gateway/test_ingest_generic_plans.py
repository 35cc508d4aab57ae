"""The lookups every ingest makes inside its commit (the MedCom duplicate matrix by sender + envelope id and
letter ids, the receipt's original, a FHIR Acknowledgement's original by MessageHeader.id) read an index
range under every plan PostgreSQL may pick (issue 14), as the listings do (test_listing_generic_plans.py).

They run on every accepted message, prepared by asyncpg; after five executions PostgreSQL may keep a
generic plan. A sequential scan there would cost every ingest a read of the whole store (0.7 s and more at
3 M). bench/results/generic_plans.md measured them at 3 M (index reads under both plans, <= 0.04 ms); this
pins it: the statements the store really sends (captured from accepts of a new message, a duplicate, an
OIOXML receipt and a FHIR Acknowledgement) are prepared on an analysed table shaped like the scale
benchmark's, with its letters, and explained both ways."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import IngestItem
from edigate.store.schema import letters, messages
from tests.unit.gateway.envelopes import envelope, positive_receipt
from tests.unit.gateway.test_health_tick_generic_plans import AT, fill_scale_shaped
from tests.unit.gateway.test_queue_generic_plans import explained
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN


def stored(envelope_id: str, letter_id: str) -> Any:
    """An original as the scale-shaped rows hold them: hospital -> municipality."""
    return envelope(envelope_id, (letter_id,), sender=HOSPITAL_EAN, receiver=MUNICIPALITY_EAN)


async def ingest_plans(url: str) -> list[tuple[tuple[Any, str], str, list[str]]]:
    """((what, statement), plan mode, plan lines) of every read of gw_messages / gw_letters in the accepts."""
    db = Database.open(url)
    store = MessageStore(db, lambda: AT + timedelta(minutes=1))
    sent: list[tuple[Any, str, Any]] = []
    what = ""
    try:
        await store.start()
        await fill_scale_shaped(db)
        async with db.engine.begin() as conn:  # each stored message's letter, as an ingest writes it
            rows = (await conn.execute(sa.select(messages.c.id, messages.c.envelope_id, messages.c.sender_ean))).all()
            data = [{"message_id": i, "letter_id": "L" + e[1:], "sender_ean": s} for i, e, s in rows]
            for start in range(0, len(data), 10_000):
                await conn.execute(sa.insert(letters), data[start : start + 10_000])
            await conn.exec_driver_sql("ANALYZE gw_letters")

        def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
            if statement.lstrip().startswith("SELECT") and "max(" not in statement:  # max(id): an insert's
                sent.append((what, statement, parameters))

        event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        what = "a new message"
        assert (await store.accept(IngestItem(stored("NEW1", "NEWL1"), b"<x/>"))).kind == "accepted"
        what = "a duplicate of a stored message"
        duplicate = await store.accept(IngestItem(stored("E5", "L5"), b"<x/>"))
        assert duplicate.kind == "duplicate"
        what = "an OIOXML receipt"
        original = stored("E3", "L3")
        assert (await store.accept(IngestItem(positive_receipt("RX1", original), b"<r/>"))).kind == "accepted"
        what = "a FHIR Acknowledgement"
        fhir = IngestItem(positive_receipt("RX2", stored("E4", "L4")), b"{}", format="fhir+json")
        assert (await store.accept(fhir)).kind == "accepted"
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    finally:
        await store.stop()
        await db.close()
    assert {w for w, _, _ in sent} >= {"a new message", "an OIOXML receipt", "a FHIR Acknowledgement"}, sent
    assert any("gw_letters" in s and "JOIN" in s for _, s, _ in sent), "no FHIR original's lookup"
    return await explained(url, sent)


@pytest.mark.postgres
def test_every_ingest_lookup_reads_an_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """No sequential scan; every table read an index with an index condition (a range of the envelope,
    letter or id index), never a walk of an index filtering rows."""
    plans = asyncio.run(ingest_plans(postgres_url))
    problems = []
    for (what, statement), mode, plan in plans:
        text = "\n".join(plan)
        reads = [line for line in plan if " Scan " in line and " on gw_" in line]
        conds = [line for line in plan if "Index Cond:" in line or "Recheck Cond:" in line]
        found = ["Seq Scan"] if "Seq Scan" in text else []
        if not reads or len(conds) < len(reads):
            found.append(f"{len(reads)} reads of a table, {len(conds)} with an index condition")
        if found:
            shown = " ".join(statement.split())
            problems.append(f"{what}, {mode}: {found} in\n  {shown[:300]}\n  " + "\n  ".join(plan))
    assert not problems, "\n\n".join(problems)
