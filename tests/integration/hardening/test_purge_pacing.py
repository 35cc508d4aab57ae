"""Retention yields in proportion to its own work (issue 14): after each write transaction the purge
pauses long enough that writing takes at most its `write_share` of the time. On a busy machine, where a
batch takes longer, the pause grows with it, so the service's commits never queue behind a train of
batches. Measured from outside, by the engine's own transaction events, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.retention import purge_bodies
from edigate.store.schema import messages
from tests.harness.old_messages import fill_old

SHARE = 0.25
ROWS = 600
BATCH = 50
BODY = b"<x>" + b"y" * 1500 + b"</x>"


async def test_each_pause_is_a_multiple_of_the_batch_before_it(storage_url: str) -> None:
    db = Database.open(storage_url)
    spans: list[list[float]] = []  # [begin, commit] of each transaction that purged

    def begun(conn: Any) -> None:
        spans.append([time.perf_counter(), 0.0])

    def committed(conn: Any) -> None:
        spans[-1][1] = time.perf_counter()

    try:
        await db.migrate()
        await fill_old(db, ROWS, BODY)
        sa.event.listen(db.engine.sync_engine, "begin", begun)
        sa.event.listen(db.engine.sync_engine, "commit", committed)
        result = await purge_bodies(db, datetime.now(UTC), 30, batch=BATCH, pause=0, write_share=SHARE)
        sa.event.remove(db.engine.sync_engine, "begin", begun)
        sa.event.remove(db.engine.sync_engine, "commit", committed)
        assert result.purged == ROWS and result.batches == ROWS // BATCH

        writes = [s for s in spans if s[1]]  # the read-only connections never commit
        assert len(writes) >= result.batches
        short = []
        for (begin, commit), (next_begin, _) in itertools.pairwise(writes):
            wanted = (commit - begin) * (1 - SHARE) / SHARE
            if next_begin - commit < wanted - 0.002:
                short.append(
                    f"paused {1000 * (next_begin - commit):.1f} ms after a {1000 * (commit - begin):.1f} ms batch"
                )
        assert not short, short[:5]
        assert result.writing_seconds <= SHARE * result.seconds + 0.05
        async with db.engine.connect() as conn:
            kept = (
                await conn.execute(sa.select(sa.func.count()).where(sa.func.length(messages.c.body) == len(BODY)))
            ).scalar_one()
        assert kept == 0
    finally:
        await db.close()


async def test_a_share_outside_0_to_1_is_refused() -> None:
    db = Database.open("sqlite:///:memory:")
    try:
        with pytest.raises(ValueError, match="write_share"):
            await purge_bodies(db, datetime.now(UTC), 30, write_share=0)
    finally:
        await db.close()
