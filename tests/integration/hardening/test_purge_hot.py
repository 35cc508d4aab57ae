"""On PostgreSQL a purged body is a HOT update (issue 14): a new version of the row on its own page and no
new entry in any of gw_messages' indexes. With the body in an index predicate (the partial index on kept
bodies, before revision 0004) none was: each purged body wrote an entry in every index, and the WAL of that
was what the service's commits waited on while a purge ran beside them. A HOT update needs room on the row's
page: gw_messages keeps 10 % of each page free (fillfactor 90, revision 0004); filled to the brim, 4-30 % of
the purges were HOT."""

from __future__ import annotations

import asyncio
import random

import pytest
import sqlalchemy as sa

from edigate.clock import system_clock
from edigate.store.db import Database
from edigate.store.retention import purge_bodies
from tests.harness.old_messages import fill_old

BODIES = 3000
BODY = random.Random(14).randbytes(680)  # a stored body's size: a 2.4 KB message compressed (and sealed)

COUNTERS = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'gw_messages'"


async def updates(url: str) -> tuple[int, int]:
    db = Database.open(url)
    try:
        async with db.engine.connect() as conn:
            row = (await conn.execute(sa.text(COUNTERS))).one()
        return int(row[0]), int(row[1])
    finally:
        await db.close()


async def purge_and_count(url: str) -> tuple[int, int, int]:
    db = Database.open(url)
    try:
        await db.migrate()
        await fill_old(db, BODIES, BODY)
        result = await purge_bodies(db, system_clock(), 30, pause=0)
    finally:
        await db.close()  # its sessions end, and with them their pending statistics go to the server
    for _ in range(50):  # the statistics of ended sessions arrive within a moment
        upd, hot = await updates(url)
        if upd >= result.purged:
            break
        await asyncio.sleep(0.2)
    return result.purged, upd, hot


@pytest.mark.postgres
def test_a_purged_body_is_a_hot_update(postgres_url: str) -> None:
    purged, upd, hot = asyncio.run(purge_and_count(postgres_url))
    assert purged == BODIES and upd == BODIES
    assert hot >= 0.9 * upd, f"{hot} of {upd} purge updates HOT"
