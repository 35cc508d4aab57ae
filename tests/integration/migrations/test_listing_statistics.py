"""PostgreSQL knows how the listings' columns go together (revision 0003, issue 14): a hospital's received
messages (receipts) are never 'acknowledged', and the planner must not believe half of them are, or a
partner's page walks the whole table backwards. The statistics are what fails without the revision: on a
test-sized table PostgreSQL picks the pair's index either way; at 3 M rows it did not (4.6 s, see
bench/results/scale-sizes.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.messages import SearchFilter, search_statement
from edigate.store.schema import messages
from tests.harness.message_rows import message_row

HOSPITAL, MUNICIPALITY = "5790000000050", "5790000000074"
AT = datetime(2026, 11, 20, tzinfo=UTC)


def rows(n: int) -> list[dict[str, object]]:
    """Originals hospital -> municipality, acknowledged; their receipts municipality -> hospital, queued."""
    out: list[dict[str, object]] = []
    for i in range(n):
        at = AT - timedelta(seconds=i)
        receipt = i % 2 == 1
        out.append(
            message_row(
                f"E{i}",
                MUNICIPALITY if receipt else HOSPITAL,
                HOSPITAL if receipt else MUNICIPALITY,
                at,
                type="XCTL03" if receipt else "XDIS91",
                receipt=receipt,
                state="accepted" if receipt else "acknowledged",
                delivery_state="pending" if receipt else "delivered",
            )
        )
    return out


@pytest.mark.postgres
def test_a_partners_state_page_reads_its_own_range_not_the_whole_table(postgres_url: str) -> None:
    async def run() -> tuple[list[str], int]:
        db = Database.open(postgres_url)
        try:
            await db.migrate()
            async with db.engine.begin() as conn:
                for start in range(0, 60_000, 10_000):
                    await conn.execute(sa.insert(messages), rows(60_000)[start : start + 10_000])
                await conn.exec_driver_sql("ANALYZE gw_messages")
            stmt = search_statement(SearchFilter(state="acknowledged", visible_to=frozenset({HOSPITAL})))
            sql = stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
            async with db.engine.connect() as conn:
                plan = [str(r[0]) for r in await conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT TEXT) {sql}")]
                stats = (await conn.exec_driver_sql("SELECT count(*) FROM pg_statistic_ext")).scalar_one()
            return plan, int(stats)
        finally:
            await db.close()

    plan, stats = asyncio.run(run())
    assert stats >= 2  # revision 0003's pair statistics
    # the received side (receiver = the hospital, state acknowledged: no rows) is found by its own index
    received = [line for line in plan if "gw_messages_1" in line and "Index" in line]
    assert received and "gw_messages_receiver_state_created" in received[0], "\n".join(plan)
