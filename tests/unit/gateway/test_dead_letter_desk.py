"""The SQL side of the desk's dead-letter page (edigate/store/dead_letter_desk.py) on a real SQLite file: keyset
pages give every dead letter once, newest first; a reason is shown without the CPR it may quote; "Prøv igen"
re-queues only a dead letter, once, with its audit entry, and says why not otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.dead_letter_desk import SqlDeadLetterDesk
from edigate.store.messages import MessageStore
from edigate.store.schema import events, messages
from notify.dead_letters import AUDIT_ACTION, InvalidCursor
from tests.unit.medcom.samples import FICTITIOUS_CPR, HOSPITAL_EAN, MUNICIPALITY_EAN

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
NAMES = {HOSPITAL_EAN: "Testsygehus Syd", MUNICIPALITY_EAN: "Testkommune"}
T = TypeVar("T")


def row(
    i: int, *, state: str = "failed", body: bytes = b"<x/>", error: str = "modtageren svarede HTTP 503"
) -> dict[str, Any]:
    at = T0 + timedelta(seconds=i // 10)  # batches of 10 share one created_at (a group commit)
    return {
        "envelope_id": f"ENV{i}",
        "sender_ean": HOSPITAL_EAN,
        "receiver_ean": MUNICIPALITY_EAN,
        "type": "XDIS91",
        "ack_requested": False,
        "is_receipt": False,
        "generated": False,
        "state": state,
        "delivery_state": "failed" if state == "failed" else "delivered",
        "body": body,
        "body_size": len(body),
        "created_at": at,
        "updated_at": at + timedelta(minutes=5),
        "attempts": 50 if state == "failed" else 1,
        "last_error": error if state == "failed" else None,
    }


def with_desk(tmp_path: Path, rows: list[dict[str, Any]], test: Callable[[SqlDeadLetterDesk], Awaitable[T]]) -> T:
    async def run() -> T:
        db = Database.open(f"sqlite:///{tmp_path / 'edigate.db'}")
        store = MessageStore(db, lambda: T0 + timedelta(days=1))
        await store.start()
        try:
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(messages), rows)
            return await test(SqlDeadLetterDesk(store, NAMES, wake=woken.extend))
        finally:
            await store.stop()
            await db.close()

    woken: list[str] = []
    return asyncio.run(run())


def test_pages_give_every_dead_letter_once_newest_first(tmp_path: Path) -> None:
    rows = [row(i, state="failed" if i % 3 else "delivered") for i in range(130)]

    async def walk(desk: SqlDeadLetterDesk) -> list[int]:
        seen: list[int] = []
        cursor = None
        for _ in range(10):
            page = await desk.list_dead_letters(cursor=cursor, limit=20)
            seen.extend(d.id for d in page.letters)
            cursor = page.next_cursor
            if cursor is None:
                break
        with pytest.raises(InvalidCursor):
            await desk.list_dead_letters(cursor="bm90LWEtY3Vyc29y")
        return seen

    seen = with_desk(tmp_path, rows, walk)
    failed = [i + 1 for i in range(130) if i % 3]  # ids are 1-based, in insert order
    assert seen == sorted(failed, reverse=True)


def test_a_row_names_the_route_and_hides_a_quoted_cpr(tmp_path: Path) -> None:
    quoted = f"modtageren svarede HTTP 500 (patient {FICTITIOUS_CPR[:6]}-{FICTITIOUS_CPR[6:]} ukendt)"

    async def first(desk: SqlDeadLetterDesk) -> Any:
        return (await desk.list_dead_letters()).letters, await desk.receivers()

    letters, receivers = with_desk(tmp_path, [row(0, error=quoted)], first)
    (d,) = letters
    assert (d.sender_name, d.receiver_name, d.type, d.standard, d.attempts) == (
        "Testsygehus Syd",
        "Testkommune",
        "XDIS91",
        "OIOXML",
        50,
    )
    assert d.failed_at == T0 + timedelta(minutes=5)
    assert FICTITIOUS_CPR[:6] not in d.reason and "[cpr]" in d.reason and "HTTP 500" in d.reason
    assert [(r.ean, r.count) for r in receivers] == [(MUNICIPALITY_EAN, 1)]


def test_retry_only_a_dead_letter_once_with_its_audit_entry(tmp_path: Path) -> None:
    rows = [row(0), row(1, state="delivered"), row(2, body=b"")]  # the third: body purged by retention

    async def retries(desk: SqlDeadLetterDesk) -> Any:
        outcomes = [
            (await desk.retry(1, "Regional IT")).outcome,
            (await desk.retry(1, "Regional IT")).outcome,  # a second click
            (await desk.retry(2, "Regional IT")).outcome,
            (await desk.retry(3, "Regional IT")).outcome,
            (await desk.retry(99, "Regional IT")).outcome,
        ]
        async with desk.store.db.engine.connect() as conn:
            state = (
                await conn.execute(sa.select(messages.c.state, messages.c.delivery_state).where(messages.c.id == 1))
            ).one()
            retry_events = (
                await conn.execute(
                    sa.select(sa.func.count()).where(events.c.message_id == 1, events.c.event == "retry")
                )
            ).scalar()
        fresh_age_from = await desk.store.last_retry_at(1)
        return outcomes, tuple(state), retry_events, fresh_age_from, await desk.history()

    outcomes, state, retry_events, fresh_age_from, history = with_desk(tmp_path, rows, retries)
    assert outcomes == ["queued", "not_dead", "not_dead", "purged", "not_found"]
    assert state == ("accepted", "pending") and retry_events == 1
    assert fresh_age_from == T0 + timedelta(days=1)  # the queue age counts from the retry
    (entry,) = history
    assert entry.actor == "Regional IT" and entry.action == AUDIT_ACTION
    assert entry.detail.startswith("Meddelelse 1 (XDIS91, OIOXML) fra Testsygehus Syd (5790001382445) til Testkommune")
