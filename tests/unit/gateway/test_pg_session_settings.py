"""edigate's PostgreSQL sessions run without JIT compilation and without parallel workers (issue 14).

On the 3 M store the health tick's recent outcomes, priced ~400,000 once an hour of traffic is stored, was
JIT-compiled (120 ms of CPU) and run by three processes on the machine's two cores every five seconds: the
soak's late slow windows. Here the database's own defaults invite both for any statement (thresholds 0), a
plain session shows them in the tick's plan, and the service's engine (edigate.store.db.Database) does not."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from edigate.store.db import Database
from edigate.store.health_queries import recent_outcomes_statement
from tests.harness.generic_plans import AT, fill_scale_shaped
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

#: what makes a plain session plan JIT and a Gather for even a small table
EAGER = {
    "jit": "on",
    "jit_above_cost": "0",
    "parallel_setup_cost": "0",
    "parallel_tuple_cost": "0",
    "min_parallel_table_scan_size": "0",
    "min_parallel_index_scan_size": "0",
}


def tick_sql() -> str:
    """The tick's recent outcomes for both receivers, its parameters written into the SQL."""
    now = AT + timedelta(minutes=1)
    statement = recent_outcomes_statement(
        [MUNICIPALITY_EAN, HOSPITAL_EAN], now - timedelta(days=40), now - timedelta(days=40), now
    )
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def plans(url: str) -> tuple[str, str, bool]:
    """(the service engine's plan, a plain session's plan, whether the server has JIT at all)."""
    name = url.rsplit("/", 1)[1]
    plain = await asyncpg.connect(url)
    try:
        for key, value in EAGER.items():
            await plain.execute(f'ALTER DATABASE "{name}" SET {key} = {value}')
    finally:
        await plain.close()
    explain = "EXPLAIN (ANALYZE) " + tick_sql()
    db = Database.open(url)
    try:
        await db.migrate()
        await fill_scale_shaped(db)
        async with db.engine.connect() as conn:
            service = "\n".join(r[0] for r in (await conn.exec_driver_sql(explain)).all())
    finally:
        await db.close()
    plain = await asyncpg.connect(url)
    try:
        other = "\n".join(r[0] for r in await plain.fetch(explain))
        jit = bool(await plain.fetchval("SELECT pg_jit_available()"))
    finally:
        await plain.close()
    return service, other, jit


@pytest.mark.postgres
def test_the_service_plans_the_health_tick_without_jit_or_parallel_workers(postgres_url: str) -> None:
    service, plain, jit = asyncio.run(plans(postgres_url))
    assert "Gather" in plain, plain  # the database's defaults would run it in parallel...
    if jit:
        assert "JIT:" in plain, plain  # ...and compile it
    else:
        print("this server has no JIT (pg_jit_available() is false): only the parallel workers are compared")
    assert "Gather" not in service, service  # the service's session does neither
    assert "JIT:" not in service, service


@pytest.mark.postgres
def test_an_engine_given_its_own_server_settings_keeps_the_session_settings(postgres_url: str) -> None:
    """A caller's own server_settings (e.g. an application_name) are added to edigate's, not instead."""

    async def settings() -> tuple[str, str, str]:
        db = Database.open(postgres_url, connect_args={"server_settings": {"application_name": "edigate-test"}})
        try:
            async with db.engine.connect() as conn:
                row = (
                    await conn.execute(
                        sa.text(
                            "SELECT current_setting('jit'), current_setting('max_parallel_workers_per_gather'),"
                            " current_setting('application_name')"
                        )
                    )
                ).one()
        finally:
            await db.close()
        return row[0], row[1], row[2]

    assert asyncio.run(settings()) == ("off", "0", "edigate-test")
