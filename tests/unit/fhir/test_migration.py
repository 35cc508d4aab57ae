"""Migration step 3 (FHIR beside OIOXML) upgrades a store made before it, in place."""

from __future__ import annotations

import sqlalchemy as sa

from edigate.store import schema  # noqa: F401  (registers the gateway's migrations)
from edigate.store.db import Database, schema_migrations
from edigate.store.schema import messages


async def test_step_3_adds_format_and_widens_type_in_place(storage_url: str) -> None:
    db = Database.open(storage_url)
    try:
        await db.migrate()
        async with db.engine.begin() as conn:  # make it the store as step 2 left it
            await conn.execute(sa.text(f"ALTER TABLE {messages.name} DROP COLUMN format"))
            if db.dialect == "postgresql":
                await conn.execute(sa.text(f"ALTER TABLE {messages.name} ALTER COLUMN type TYPE VARCHAR(16)"))
            await conn.execute(
                sa.update(schema_migrations).where(schema_migrations.c.component == "gateway").values(version=2)
            )
        await db.migrate()
        async with db.engine.connect() as conn:
            columns = await conn.run_sync(lambda c: {x["name"]: x for x in sa.inspect(c).get_columns(messages.name)})
            version = (
                await conn.execute(
                    sa.select(schema_migrations.c.version).where(schema_migrations.c.component == "gateway")
                )
            ).scalar()
        assert "format" in columns and version == 3
        if db.dialect == "postgresql":
            assert getattr(columns["type"]["type"], "length", None) == 32  # "HospitalNotification" fits
    finally:
        await db.close()
