"""The first seconds after a start (issue 14's soak: the first 5-second window was the slowest of the run),
pinned by the mechanism, not by timing: when the service starts answering, the periodic loops have run
their first pass and the delivery worker has read its queues, and the accept transaction has run once
(rolled back, nothing stored), so the first sender's message compiles no SQL statement of its own.
"""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine.interfaces import CacheStats

from edigate import app as app_module
from edigate.app import build_app
from edigate.settings import parse_settings
from edigate.store.schema import events, letters, messages
from edigate.web.keys import DATABASE, HEALTH_LOOP, STORE
from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, MUNICIPALITY
from tests.harness.receiver import Receiver
from tests.unit.medcom.samples import xdis91_message

TOKEN = "tok-hospital"


def settings(url: str, receiver: Receiver, tmp_path: Path) -> Any:
    text = "".join(
        [
            cfg.base(url, "admin", "tok-admin"),
            cfg.partner(HOSPITAL, "Testsygehus", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKEN),
            cfg.partner(MUNICIPALITY, "Testkommune", "municipality", "Fyn", cfg.http_delivery(receiver.url)),
        ]
    )
    return parse_settings(tomllib.loads(text.replace("{port}", "8080")), base_dir=tmp_path)


class CompiledNow:
    """Statements an engine compiles (a miss of SQLAlchemy's statement cache) while it is watched."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.misses: list[str] = []

    def _seen(self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if context is not None and context.compiled is not None and context.cache_hit is CacheStats.CACHE_MISS:
            self.misses.append(statement.split("\n")[0][:80])

    def __enter__(self) -> CompiledNow:
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)


async def test_the_first_message_after_a_start_compiles_nothing(tmp_path: Path, receiver: Receiver) -> None:
    app = build_app(settings(cfg.sqlite_url(tmp_path / "edigate.db"), receiver, tmp_path))
    async with TestClient(TestServer(app)) as client:
        # answering now: the loops' first passes are over
        assert app[HEALTH_LOOP].ticks >= 1
        store = app[STORE]
        assert store._sync_engine is not None  # SQLite: the accept transaction runs on the writer's engine
        with CompiledNow(store._sync_engine) as writer:
            resp = await client.post(
                "/api/v1/messages",
                data=xdis91_message(envelope_id="WARM0001", letter_id="WL0001"),
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"},
            )
            assert resp.status == 202, await resp.text()
            for _ in range(200):  # delivered, and marked so (on SQLite in the writer thread, too)
                async with app[DATABASE].engine.connect() as conn:
                    state = (await conn.execute(sa.select(messages.c.delivery_state))).scalars().all()
                if state == ["delivered"]:
                    break
                await asyncio.sleep(0.05)
        assert state == ["delivered"] and len(receiver.received) == 1
        assert writer.misses == []  # the start-up's rolled-back batch compiled every statement of them
        async with app[DATABASE].engine.connect() as conn:
            stored = (await conn.execute(sa.select(messages.c.envelope_id))).scalars().all()
            letter_ids = (await conn.execute(sa.select(letters.c.letter_id))).scalars().all()
            kinds = (await conn.execute(sa.select(events.c.event))).scalars().all()
        # the warm-up left nothing behind: only the sender's message, its letter and its events
        assert stored == ["WARM0001"] and letter_ids == ["WL0001"]
        assert "delivered" in kinds and len(kinds) == len(set(kinds)), kinds


@pytest.mark.postgres
async def test_the_first_passes_on_postgresql_store_nothing(
    tmp_path: Path, receiver: Receiver, postgres_url: str
) -> None:
    """PostgreSQL warms the look-ups only (a rolled-back insert would still use up a sequence value): the
    first accepted message still gets id 1."""
    app = build_app(settings(postgres_url, receiver, tmp_path))
    async with TestClient(TestServer(app)) as client:
        assert app[HEALTH_LOOP].ticks >= 1
        resp = await client.post(
            "/api/v1/messages",
            data=xdis91_message(envelope_id="WARMPG01", letter_id="WLPG01"),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"},
        )
        assert resp.status == 202, await resp.text()
        assert (await resp.json())["id"] == 1


async def test_a_first_pass_that_hangs_does_not_keep_the_service_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "FIRST_PASS_TIMEOUT", 0.2)
    never = asyncio.Event()
    done = asyncio.Event()
    done.set()
    await asyncio.wait_for(app_module._first_passes({"stuck": never.wait(), "fine": done.wait()}, done.wait()), 5)
