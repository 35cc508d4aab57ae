"""The migration history itself: one ordered line, shipped with the package, run by `Database.migrate` alone
(two instances starting at once on one database both come up, one of them migrating), and a landed database
with a time the landed version could not have written is refused whole, not half-converted."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from edigate import migrations
from edigate.migrations.target import target_metadata
from edigate.store.db import Database
from edigate.store.schema import UtcDateTime
from tests.integration.migrations.landed_db import load_landed


def test_history_is_one_ordered_line() -> None:
    script = ScriptDirectory.from_config(migrations.config())
    revisions = list(reversed(list(script.walk_revisions())))  # oldest first
    assert [r.revision for r in revisions] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]
    assert [r.down_revision for r in revisions] == [None] + [r.revision for r in revisions[:-1]]
    assert script.get_heads() == [migrations.head()] == [revisions[-1].revision]
    files = sorted(p.name for p in (migrations.HERE / "versions").glob("r*.py"))
    assert files == sorted(Path(r.path).name for r in revisions)  # every file is in the line


TIME_NAMES = re.compile(r"(^|_)(at|start|end|until)$")


def test_every_time_column_has_the_one_time_type() -> None:
    """A time in any table is the gateway's UtcDateTime (aware UTC in and out), never text or a naive type."""
    columns = [(t.name, c.name, c.type) for t in target_metadata().sorted_tables for c in t.columns]
    times = [(table, name) for table, name, type_ in columns if isinstance(type_, UtcDateTime)]
    named_like_times = [(table, name) for table, name, _ in columns if TIME_NAMES.search(name)]
    assert len(times) >= 31 and sorted(times) == sorted(named_like_times)
    assert not [c for c in columns if isinstance(c[2], sa.DateTime | sa.Date | sa.Time)]  # only through UtcDateTime


async def _versions(url: str) -> list[str]:
    db = Database.open(url)
    try:
        async with db.engine.connect() as conn:
            return [r[0] for r in await conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    finally:
        await db.close()


async def _start_together(url: str, instances: int) -> None:
    dbs = [Database.open(url) for _ in range(instances)]
    try:
        await asyncio.gather(*(db.migrate() for db in dbs))
    finally:
        for db in dbs:
            await db.close()


@pytest.mark.parametrize("landed", [False, True], ids=["new", "landed"])
def test_instances_starting_together_migrate_once(empty_storage_url: str, landed: bool) -> None:
    if landed:
        load_landed(empty_storage_url)
    asyncio.run(_start_together(empty_storage_url, 3))
    assert asyncio.run(_versions(empty_storage_url)) == [migrations.head()]


async def _tables(url: str) -> set[str]:
    db = Database.open(url)
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await db.close()


def test_a_landed_database_with_a_foreign_time_is_refused_whole(empty_storage_url: str) -> None:
    load_landed(empty_storage_url)

    async def spoil_and_migrate() -> None:
        db = Database.open(empty_storage_url)
        try:
            async with db.engine.begin() as conn:
                await conn.execute(sa.text("UPDATE notify_audit SET at = 'i går kl. 9' WHERE id = 1"))
            with pytest.raises(sa.exc.SQLAlchemyError if db.dialect == "postgresql" else RuntimeError) as err:
                await db.migrate()
            if db.dialect == "sqlite":
                assert "notify_audit.at" in str(err.value)
        finally:
            await db.close()

    asyncio.run(spoil_and_migrate())
    tables = asyncio.run(_tables(empty_storage_url))
    assert "schema_migrations" in tables and "alembic_version" not in tables  # nothing of it was kept
