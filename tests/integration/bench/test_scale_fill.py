"""The scale benchmark's fast fill is honest: every copied row is a row the store's own code wrote (the
seed: `MessageStore.accept` and `mark_delivered`), column for column, apart from its ids and times; and the
store reads the copies as it reads its own rows (issue 14)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.bench_scale import MEDCOM_IDS, fill, seed_shift
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.schema import UtcDateTime, events, letters, messages

SEED, COPIES = 100, 3
ROW_IDS = ("id", "message_id", "receipt_for_id", "receipt_id", "resend_of_id")


def expected_copy(seed_row: dict[str, Any], table: sa.Table, k: int, offset: int, shift: timedelta) -> dict[str, Any]:
    """What copy k of `seed_row` must hold: the seed's values, ids moved by k * offset, MedCom ids
    suffixed ".k", every time k * shift later; letters' and events' own ids are the database's."""
    out = {}
    for col in table.c:
        v = seed_row[col.name]
        if col.name == "id" and table is not messages:
            continue
        if v is not None and col.name in ROW_IDS:
            v += k * offset
        elif v is not None and col.name in MEDCOM_IDS:
            v = f"{v}.{k}"
        elif v is not None and isinstance(col.type, UtcDateTime):
            v += shift * k
        out[col.name] = v
    return out


async def read(url: str) -> dict[str, list[dict[str, Any]]]:
    db = Database.open(url)
    try:
        async with db.engine.connect() as conn:
            return {
                t.name: [dict(r) for r in (await conn.execute(sa.select(t).order_by(t.c.id))).mappings()]
                for t in (messages, letters, events)
            }
    finally:
        await db.close()


def test_copied_rows_are_the_stores_own_rows_apart_from_ids_and_times(storage_url: str) -> None:
    filled = asyncio.run(fill(storage_url, SEED * COPIES, seed_rows=SEED))
    assert filled["rows"] == SEED * COPIES
    rows = asyncio.run(read(storage_url))
    msgs = rows["gw_messages"]
    assert len(msgs) == SEED * COPIES
    offset = SEED  # the seed's ids are 1..SEED
    assert [m["id"] for m in msgs] == list(range(1, SEED * COPIES + 1))
    shift = seed_shift(COPIES)
    seed = {m["id"]: m for m in msgs[:SEED]}
    kinds = {(m["state"], m["delivery_state"], m["is_receipt"]) for m in seed.values()}
    assert len(kinds) >= 3, kinds  # acknowledged originals, their queued receipts, pending originals
    for m in msgs[SEED:]:
        k = (m["id"] - 1) // offset
        assert m == expected_copy(seed[m["id"] - k * offset], messages, k, offset, shift)
    for table in (letters, events):
        by_message: dict[int, list[dict[str, Any]]] = {}
        for r in rows[table.name]:
            by_message.setdefault(r["message_id"], []).append(r)
        assert set(by_message) >= set(seed)  # every seed message has its letters / events
        for mid in range(SEED + 1, SEED * COPIES + 1):
            k = (mid - 1) // offset
            want = [expected_copy(r, table, k, offset, shift) for r in by_message[mid - k * offset]]
            got = [{c: v for c, v in r.items() if c != "id"} for r in by_message[mid]]
            assert got == want, (table.name, mid)

    async def through_the_store() -> None:
        db = Database.open(storage_url)
        store = MessageStore(db, lambda: datetime.now(UTC))
        first = min(mid for mid, m in seed.items() if m["state"] == "acknowledged")
        try:
            for mid in (first, first + SEED, first + 2 * SEED):  # a seed row and its copies: same message, body
                shown = await store.get(mid)
                assert shown is not None and shown["state"] == "acknowledged"
                assert await store.body(mid) == await store.body(first)
                assert len(shown["letters"]) == 1 and len(shown["history"]) >= 2
        finally:
            await db.close()

    asyncio.run(through_the_store())
