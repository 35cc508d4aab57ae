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
from typing import Any

import pytest
import sqlalchemy as sa

from edigate.store.model import IngestItem
from edigate.store.schema import letters, messages
from tests.harness.generic_plans import (
    Plan,
    captured_statements,
    explained,
    index_read_problems,
    scale_shaped_store,
    shown,
)
from tests.unit.gateway.envelopes import envelope, positive_receipt
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN


def stored(envelope_id: str, letter_id: str) -> Any:
    """An original as the scale-shaped rows hold them: hospital -> municipality."""
    return envelope(envelope_id, (letter_id,), sender=HOSPITAL_EAN, receiver=MUNICIPALITY_EAN)


def _a_lookup(statement: str) -> bool:
    return statement.lstrip().startswith("SELECT") and "max(" not in statement  # max(id): an insert's


async def ingest_plans(url: str) -> list[Plan]:
    """((what, statement), plan mode, plan lines) of every read of gw_messages / gw_letters in the accepts."""
    async with scale_shaped_store(url) as (db, store):
        async with db.engine.begin() as conn:  # each stored message's letter, as an ingest writes it
            rows = (await conn.execute(sa.select(messages.c.id, messages.c.envelope_id, messages.c.sender_ean))).all()
            data = [{"message_id": i, "letter_id": "L" + e[1:], "sender_ean": s} for i, e, s in rows]
            for start in range(0, len(data), 10_000):
                await conn.execute(sa.insert(letters), data[start : start + 10_000])
            await conn.exec_driver_sql("ANALYZE gw_letters")
        with captured_statements(db, _a_lookup) as captured:
            captured.what = "a new message"
            assert (await store.accept(IngestItem(stored("NEW1", "NEWL1"), b"<x/>"))).kind == "accepted"
            captured.what = "a duplicate of a stored message"
            duplicate = await store.accept(IngestItem(stored("E5", "L5"), b"<x/>"))
            assert duplicate.kind == "duplicate"
            captured.what = "an OIOXML receipt"
            original = stored("E3", "L3")
            assert (await store.accept(IngestItem(positive_receipt("RX1", original), b"<r/>"))).kind == "accepted"
            captured.what = "a FHIR Acknowledgement"
            fhir = IngestItem(positive_receipt("RX2", stored("E4", "L4")), b"{}", format="fhir+json")
            assert (await store.accept(fhir)).kind == "accepted"
    sent = captured.sent
    assert {w for w, _, _ in sent} >= {"a new message", "an OIOXML receipt", "a FHIR Acknowledgement"}, sent
    assert any("gw_letters" in s and "JOIN" in s for _, s, _ in sent), "no FHIR original's lookup"
    return await explained(url, sent)


@pytest.mark.postgres
def test_every_ingest_lookup_reads_an_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """No sequential scan; every table read an index with an index condition (a range of the envelope,
    letter or id index), never a walk of an index filtering rows."""
    problems = []
    for (what, statement), mode, plan in asyncio.run(ingest_plans(postgres_url)):
        if found := index_read_problems(plan):
            problems.append(shown(what, mode, found, statement, plan))
    assert not problems, "\n\n".join(problems)
