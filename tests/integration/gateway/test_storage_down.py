"""When the database cannot commit, the gateway answers 503 — never a 202 for something not stored."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_DSN
from tests.integration.gateway.conftest import Gateway
from tests.unit.medcom.samples import xdis91_message


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.mark.postgres
def test_database_down_gives_503_then_recovers(gateway_factory: Any, storage_url: str) -> None:
    if not storage_url.startswith("postgresql"):
        pytest.skip("needs a database server that can be taken away; SQLite is a local file")
    gw: Gateway = gateway_factory()
    name = storage_url.rsplit("/", 1)[1]
    assert gw.post(xdis91_message(envelope_id="ENVDOWN1", letter_id="LETDOWN1")).status == 202

    asyncio.run(_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
    asyncio.run(_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
    try:
        down = gw.post(xdis91_message(envelope_id="ENVDOWN2", letter_id="LETDOWN2"))
        assert down.status == 503, down
        assert "NOT accepted" in down.body["reason"]
        assert gw.get("/readyz").status == 503
        assert gw.get("/healthz").status == 200  # alive, just not ready
    finally:
        asyncio.run(_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    deadline = time.monotonic() + 15
    while gw.get("/readyz").status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    again = gw.post(xdis91_message(envelope_id="ENVDOWN2", letter_id="LETDOWN2"))
    assert again.status == 202, again  # the refused one was not half-stored: it is new now
