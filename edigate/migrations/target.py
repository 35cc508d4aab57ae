"""The schema the code expects: every store module's tables in one MetaData, for comparing a migrated database
with the code (tests, `alembic revision --autogenerate`)."""

from __future__ import annotations

import sqlalchemy as sa

from edigate.store import directory_store, login_sessions, notify_store, portal_tasks, schema


def target_metadata() -> sa.MetaData:
    merged = sa.MetaData()
    for module in (schema, notify_store, directory_store, portal_tasks, login_sessions):
        for table in module.metadata.sorted_tables:
            if table.name not in merged.tables:
                table.to_metadata(merged)
    return merged
