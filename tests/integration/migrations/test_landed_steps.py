"""A database made by an edigate older than the landed one, at an earlier step of each component's landed
history (recorded in `schema_migrations`), is completed to the landed schema before the Alembic history takes
over: the same schema as a new database, and its rows usable. These were the in-place upgrades of the landed
steps (gateway 2 and 3, notify 2 and 3, a component that never ran)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.notify_store import SqlNotifyStorage
from edigate.store.schema import messages
from tests.integration.migrations.landed_db import describe, load_landed, second_pg_database
from tests.integration.migrations.test_upgrade_landed import T0

# What the landed steps added, taken away again (SQLite >= 3.35 drops columns too).
BACK_TO_OLDER_STEPS = [
    # gateway at step 1: the listing indexes of step 2 not there yet, the two it replaced still there
    *(
        f"DROP INDEX {name}"
        for name in (
            "gw_messages_created",
            "gw_messages_state_created",
            "gw_messages_envelope_created",
            "gw_messages_awaiting_receipt",
            "gw_messages_body_kept",
        )
    ),
    "CREATE INDEX gw_messages_state ON gw_messages (state, created_at)",
    "CREATE INDEX gw_messages_envelope_id ON gw_messages (envelope_id)",
    # ... and without step 3's FHIR column
    "ALTER TABLE gw_messages DROP COLUMN format",
    # notify at step 1: no outbox lease columns
    "ALTER TABLE notify_outbox DROP COLUMN lease_until",
    "ALTER TABLE notify_outbox DROP COLUMN leased_by",
    # the portal tasks never ran
    "DROP TABLE notify_portal_tasks",
    "DELETE FROM schema_migrations WHERE component = 'notify_portal_tasks'",
    "UPDATE schema_migrations SET version = 1 WHERE component IN ('gateway', 'notify')",
]
PG_NARROWER = [  # the widths PostgreSQL enforced before gateway step 3 and notify step 3
    "UPDATE notify_notices SET kind = 'first'",
    "ALTER TABLE gw_messages ALTER COLUMN type TYPE VARCHAR(16)",
    "ALTER TABLE notify_notices ALTER COLUMN kind TYPE VARCHAR(16)",
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(a landed database taken back to older steps, an empty database of the same kind)."""
    if request.param == "sqlite":
        older, empty = f"sqlite:///{tmp_path / 'older.db'}", f"sqlite:///{tmp_path / 'new.db'}"
        load_landed(older)
        asyncio.run(_execute(older, BACK_TO_OLDER_STEPS))
        yield older, empty
        return
    older = str(request.getfixturevalue("postgres_url"))
    load_landed(older)
    asyncio.run(_execute(older, BACK_TO_OLDER_STEPS + PG_NARROWER))
    with second_pg_database(older) as empty:
        yield older, empty


async def _execute(url: str, statements: list[str]) -> None:
    db = Database.open(url)
    try:
        async with db.engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await db.close()


async def _migrate_and_describe(url: str) -> dict[str, Any]:
    db = Database.open(url)
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            return await conn.run_sync(describe)
    finally:
        await db.close()


async def _use(url: str) -> None:
    """The completed columns work: a FHIR message stores its format, the old pending mail is claimable."""
    db = Database.open(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(sa.update(messages).where(messages.c.id == 1).values(type="HospitalNotification"))
            await conn.execute(sa.update(messages).where(messages.c.id == 1).values(format="fhir+json"))
        shown = await MessageStore(db, lambda: T0).get(1)
        assert shown is not None and shown["type"] == "HospitalNotification"
        notify = SqlNotifyStorage(db)
        claimed = await notify.claim_outbox(T0, channel="mail", owner="a", lease_until=T0.replace(hour=10))
        assert [r.status for r in claimed] == ["pending"]
        assert await notify.mark_sent(claimed[0].id, T0, owner="a")
    finally:
        await db.close()


def test_older_landed_steps_are_completed_then_upgraded(urls: tuple[str, str]) -> None:
    older, empty = urls
    assert asyncio.run(_migrate_and_describe(older)) == asyncio.run(_migrate_and_describe(empty))
    asyncio.run(_use(older))
