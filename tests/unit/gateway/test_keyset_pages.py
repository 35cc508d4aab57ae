"""Keyset pages of GET /api/v1/messages (issue 14): walking a listing page by page with the cursor gives
every matching message exactly once, newest first, also when many share one created_at (a group commit
stamps a whole batch with one time) and for a partner's own messages (sender side and receiver side)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.messages import MessageStore, SearchFilter
from edigate.store.schema import messages
from edigate.web.messages_api import make_cursor, read_cursor
from tests.harness.message_rows import message_row
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

OTHER = "5790000123454"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def rows(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        at = T0 + timedelta(seconds=i // 25)  # batches of 25 share one created_at
        sender, receiver = [
            (HOSPITAL_EAN, MUNICIPALITY_EAN),
            (MUNICIPALITY_EAN, HOSPITAL_EAN),
            (OTHER, MUNICIPALITY_EAN),
        ][i % 3]
        out.append(
            message_row(
                f"ENV{i}",
                sender,
                receiver,
                at,
                ack_requested=False,
                state="delivered" if i % 4 else "acknowledged",
                attempts=1,
            )
        )
    return out


def walk(url: str, filters: list[SearchFilter], page: int) -> list[list[tuple[datetime, int]]]:
    async def run() -> list[list[tuple[datetime, int]]]:
        db = Database.open(url)
        try:
            await db.migrate()
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(messages), rows(310))
            store = MessageStore(db, lambda: T0)
            walks = []
            for f in filters:
                seen: list[tuple[datetime, int]] = []
                after = None
                for _ in range(100):
                    got = await store.search(SearchFilter(**{**f.__dict__, "limit": page, "after": after}))
                    seen.extend((r["created_at"], r["id"]) for r in got)
                    if len(got) < page:
                        break
                    after = read_cursor(make_cursor(got[-1]["created_at"], got[-1]["id"]))
                walks.append(seen)
            expected = []
            for f in filters:
                everything = await store.search(SearchFilter(**{**f.__dict__, "limit": 10_000}))
                expected.append([(r["created_at"], r["id"]) for r in everything])
            return [w for pair in zip(walks, expected, strict=True) for w in pair]
        finally:
            await db.close()

    return asyncio.run(run())


def test_pages_give_every_message_once_newest_first(storage_url: str) -> None:
    filters = [
        SearchFilter(),
        SearchFilter(state="delivered"),
        SearchFilter(receiver=MUNICIPALITY_EAN),
        SearchFilter(visible_to=frozenset({HOSPITAL_EAN})),
        SearchFilter(visible_to=frozenset({HOSPITAL_EAN, OTHER}), state="delivered"),
    ]
    results = walk(storage_url, filters, page=40)
    for f, (walked, whole) in zip(filters, zip(results[::2], results[1::2], strict=True), strict=True):
        assert walked == whole, f
        assert len({i for _, i in walked}) == len(walked) > 40, f
        assert walked == sorted(walked, reverse=True), f
    assert len(results[0]) == 310


def test_cursor_round_trip_and_garbage() -> None:
    at = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)
    assert read_cursor(make_cursor(at, 42)) == (at, 42)
    for bad in ("", "x", "!!!", "MjAyNi0xMS0yMFQxMDowMDowMHw0Mg", "a" * 200, make_cursor(at, 42)[:-3]):
        assert read_cursor(bad) is None, bad
