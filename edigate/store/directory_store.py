"""SQL `notify.directory.DirectoryStore`: the desk's edits of mailboxes, clusters and contacts, as overrides
of the TOML seed. Own table; each edit is written in the same transaction as its audit entry (who, when,
before/after)."""

from __future__ import annotations

import json

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.notify_store import audit_log
from edigate.store.schema import UtcDateTime
from notify.directory import AUDIT_ACTION, Override
from notify.model import AuditEntry

metadata = sa.MetaData()

directory = sa.Table(
    "notify_directory",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)


class SqlDirectoryStore:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine

    async def all(self) -> list[Override]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(directory))
            return [Override(r.key, json.loads(r.value), r.updated_at, r.updated_by) for r in rows]

    async def put(self, override: Override, audit: AuditEntry) -> None:
        value = json.dumps(override.values, ensure_ascii=False, sort_keys=True)
        row = {"value": value, "updated_at": override.updated_at, "updated_by": override.updated_by}
        for attempt in (1, 2):  # two instances inserting the same key at once: the second updates instead
            try:
                async with self.engine.begin() as conn:
                    updated = await conn.execute(
                        sa.update(directory).where(directory.c.key == override.key).values(**row)
                    )
                    if updated.rowcount == 0:
                        await conn.execute(sa.insert(directory).values(key=override.key, **row))
                    await conn.execute(
                        sa.insert(audit_log).values(
                            at=audit.at, actor=audit.actor, action=audit.action, detail=audit.detail
                        )
                    )
                return
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise

    async def history(self, limit: int = 200) -> list[AuditEntry]:
        query = (
            sa.select(audit_log).where(audit_log.c.action == AUDIT_ACTION).order_by(audit_log.c.id.desc()).limit(limit)
        )
        async with self.engine.connect() as conn:
            return [AuditEntry(r.at, r.actor, r.action, r.detail, id=r.id) for r in await conn.execute(query)]
