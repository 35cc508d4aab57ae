"""A listing's statement is built once per shape (issue 14: building a partner's union of per-side ranges
cost more Python than its query), and the values of each request are its own: two partners, two cursors,
two states never see each other's rows through a shared statement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.messages import MessageStore, SearchFilter, search_query
from edigate.store.schema import messages
from tests.unit.gateway.test_query_plans import spread_rows
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN


def test_filters_of_one_shape_share_one_statement_with_their_own_values() -> None:
    a, va = search_query(SearchFilter(state="failed", visible_to=frozenset({HOSPITAL_EAN})))
    b, vb = search_query(SearchFilter(state="acknowledged", visible_to=frozenset({MUNICIPALITY_EAN})))
    assert a is b
    assert (va["state"], va["ean_0"]) == ("failed", HOSPITAL_EAN)
    assert (vb["state"], vb["ean_0"]) == ("acknowledged", MUNICIPALITY_EAN)
    other, _ = search_query(SearchFilter(state="failed", visible_to=frozenset({HOSPITAL_EAN}), limit=5))
    assert other is not a  # the limit is part of the shape


def test_pages_through_a_shared_statement_are_each_callers_own(tmp_path: Path) -> None:
    async def run() -> None:
        db = Database.open(f"sqlite:///{tmp_path / 'e.db'}")
        try:
            await db.migrate()
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(messages), spread_rows(2000))
            store = MessageStore(db, lambda: datetime.now(UTC))
            for ean in (HOSPITAL_EAN, MUNICIPALITY_EAN):
                rows = await store.search(SearchFilter(state="failed", visible_to=frozenset({ean}), limit=20))
                assert rows and all(ean in (r["sender_ean"], r["receiver_ean"]) for r in rows)
                assert all(r["state"] == "failed" for r in rows)
            first = await store.search(SearchFilter(limit=30))
            cursor = (first[-1]["created_at"], first[-1]["id"])
            second = await store.search(SearchFilter(limit=30, after=cursor))
            assert second[0]["created_at"] <= cursor[0] and not {r["id"] for r in first} & {r["id"] for r in second}
            since = first[9]["created_at"]
            assert len(await store.search(SearchFilter(since=since, limit=100))) == 10
            assert await store.search(SearchFilter(since=since + timedelta(days=1))) == []
        finally:
            await db.close()

    asyncio.run(run())
