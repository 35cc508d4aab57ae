"""Upgrade in place from the landed schema: a database that commit 60024f2 made and filled (its dump in
tests/fixtures/landed) is recognised, completed, stamped and upgraded by today's `Database.migrate`, on SQLite and
on the real PostgreSQL. Every row reads back as it was written (notify's times as aware UTC, to the microsecond),
and the schema is the one a new database gets, which is also the one the code's tables describe."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from edigate import migrations
from edigate.migrations.target import target_metadata
from edigate.store.db import Database
from edigate.store.directory_store import SqlDirectoryStore
from edigate.store.login_sessions import SqlLoginSessions
from edigate.store.messages import MessageStore, SearchFilter
from edigate.store.notify_store import SqlNotifyStorage
from edigate.store.portal_tasks import SqlPortalTasks
from notify.directory import Override
from tests.integration.migrations.landed_db import describe, load_landed, second_pg_database

T0 = datetime(2026, 11, 23, 9, 0, 0, 123456, tzinfo=UTC)  # the fixture's clock (make_landed_fixture.py)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(a database made by the landed version, an empty database of the same kind)."""
    if request.param == "sqlite":
        landed, empty = f"sqlite:///{tmp_path / 'landed.db'}", f"sqlite:///{tmp_path / 'new.db'}"
        load_landed(landed)
        yield landed, empty
        return
    landed = str(request.getfixturevalue("postgres_url"))
    load_landed(landed)
    with second_pg_database(landed) as empty:
        yield landed, empty


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _migrated_schema(url: str) -> tuple[dict[str, Any], list[Any], list[str]]:
    """Migrate (twice: the second finds nothing to do), then (schema, differences from the code's tables,
    Alembic's version rows)."""
    db = Database.open(url)
    try:
        await db.migrate()
        await db.migrate()
        async with db.engine.connect() as conn:
            schema = await conn.run_sync(describe)
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), target_metadata()))
            versions = [r[0] for r in await conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
        return schema, diff, versions
    finally:
        await db.close()


def test_landed_database_gets_the_schema_of_a_new_one(urls: tuple[str, str]) -> None:
    landed, empty = urls
    upgraded, upgraded_diff, upgraded_versions = run(_migrated_schema(landed))
    new, new_diff, new_versions = run(_migrated_schema(empty))
    assert upgraded_versions == new_versions == [migrations.head()]
    assert "schema_migrations" not in upgraded
    assert upgraded == new
    assert upgraded_diff == [] and new_diff == []  # and both are what the code's tables say


async def _read_back(url: str) -> None:
    db = Database.open(url)
    store = MessageStore(db, lambda: T0)
    await store.start()  # migrates
    try:
        # gateway
        listed = await store.search(SearchFilter(limit=10))
        assert len(listed) == 4 and {r["created_at"] for r in listed} == {T0}
        first = await store.get(1)
        assert first is not None and first["state"] == "acknowledged" and first["receipt_id"] == 2
        assert await store.body(1) == b"<x>first</x>"

        # notify: every time aware UTC, to the microsecond
        notify = SqlNotifyStorage(db)
        incident = await notify.get_incident(1)
        assert incident is not None
        assert (incident.start, incident.reported_at) == (T0, T0)
        assert incident.expected_end == T0 + timedelta(hours=5)  # moved by the update
        assert incident.last_update_at == T0 + timedelta(minutes=30)
        assert all(t.tzinfo is UTC for t in (incident.start, incident.expected_end, incident.reported_at))
        [update] = await notify.updates_for(1)
        assert (update.at, update.expected_end) == (T0 + timedelta(minutes=30), T0 + timedelta(hours=5))
        [notice] = await notify.notices_for(1)
        assert (notice.kind, notice.created_at, notice.next_status_at) == (
            "reporter-resolved",
            T0,
            T0 + timedelta(hours=1),
        )
        sent, pending = await notify.outbox_for(1)
        assert (sent.status, sent.sent_at, sent.next_attempt_at) == ("sent", T0 + timedelta(seconds=5), T0)
        assert (pending.status, pending.sent_at, pending.next_attempt_at) == ("pending", None, T0)
        # times compare with new values: the pending row's lease (until T0+1 min) holds, then runs out
        assert await notify.claim_outbox(T0, channel="mail", owner="b", lease_until=T0 + timedelta(minutes=2)) == []
        later = T0 + timedelta(minutes=1, seconds=1)
        claimed = await notify.claim_outbox(later, channel="mail", owner="b", lease_until=later + timedelta(minutes=1))
        assert [r.id for r in claimed] == [pending.id]
        subscription = await notify.subscription_by_token(confirm_token="c1")
        assert subscription is not None and (subscription.created_at, subscription.confirmed_at) == (T0, T0)
        assert [(a.at, a.action) for a in await notify.audit_for(incident_id=1)] == [(T0, "indberettet")]
        assert [i.id for i in await notify.list_incidents(since=T0 - timedelta(days=1))] == [1]

        # the desk's directory, the portal task, the login session (expiring in 2099, compared with now)
        assert await SqlDirectoryStore(db).all() == [Override("contacts", {"desk": "Driftsvagten"}, T0, "desk")]
        task = await SqlPortalTasks(db).get(1)
        assert task is not None and (task.requested_at, task.requested_by, task.done_at) == (T0, "desk", None)
        sessions = SqlLoginSessions(db)
        assert await sessions.is_open("sid-fixture") and not await sessions.is_open("sid-other")
    finally:
        await store.stop()
        await db.close()


def test_landed_rows_read_back_unchanged(urls: tuple[str, str]) -> None:
    run(_read_back(urls[0]))
