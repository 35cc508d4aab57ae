"""SQL `notify.visinfosyd.PortalTasks`: the desk's sundhed.dk (VisInfoSyd) tasks, one per incident.

Own table, like the login sessions. Every change is written in the same transaction as its entry in the
incident's audit trail (`notify_audit`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from edigate.store.db import Database
from edigate.store.notify_store import audit_log
from edigate.store.schema import UtcDateTime
from notify.incidents import InvalidTransition
from notify.model import AuditEntry
from notify.visinfosyd import PortalTask

metadata = sa.MetaData()

portal_tasks = sa.Table(
    "notify_portal_tasks",
    metadata,
    sa.Column("incident_id", sa.Integer, primary_key=True),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("done_at", UtcDateTime),
    sa.Column("done_by", sa.String(200)),
)


def _task(row: Any) -> PortalTask:
    return PortalTask(row.incident_id, row.requested_at, row.requested_by, row.done_at, row.done_by)


class SqlPortalTasks:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine

    async def _audit(self, conn: AsyncConnection, a: AuditEntry) -> None:
        await conn.execute(
            sa.insert(audit_log).values(
                at=a.at, actor=a.actor, action=a.action, detail=a.detail, incident_id=a.incident_id
            )
        )

    async def get(self, incident_id: int) -> PortalTask | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(sa.select(portal_tasks).where(portal_tasks.c.incident_id == incident_id))).first()
        return None if row is None else _task(row)

    async def list(self, *, open_only: bool = False, limit: int = 200) -> list[PortalTask]:
        query = sa.select(portal_tasks)
        if open_only:
            query = query.where(portal_tasks.c.done_at.is_(None))
        # open ones first, oldest request first; then the done ones, newest first
        query = query.order_by(
            portal_tasks.c.done_at.is_not(None), portal_tasks.c.done_at.desc(), portal_tasks.c.requested_at
        ).limit(limit)
        async with self.engine.connect() as conn:
            return [_task(r) for r in await conn.execute(query)]

    async def request(self, task: PortalTask, audit: AuditEntry) -> PortalTask:
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    sa.insert(portal_tasks).values(
                        incident_id=task.incident_id,
                        requested_at=task.requested_at,
                        requested_by=task.requested_by,
                    )
                )
                await self._audit(conn, audit)
        except sa.exc.IntegrityError:  # two desks at once: the first one wins, nothing half-stored
            raise InvalidTransition("Opslaget på sundhed.dk er allerede bestilt.") from None
        return task

    async def mark_done(self, incident_id: int, at: datetime, by: str, audit: AuditEntry) -> PortalTask:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(portal_tasks)
                .where(portal_tasks.c.incident_id == incident_id, portal_tasks.c.done_at.is_(None))
                .values(done_at=at, done_by=by)
            )
            await self._audit(conn, audit)
            row = (await conn.execute(sa.select(portal_tasks).where(portal_tasks.c.incident_id == incident_id))).one()
        return _task(row)

    async def withdraw(self, incident_id: int, audit: AuditEntry) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.delete(portal_tasks).where(
                    portal_tasks.c.incident_id == incident_id, portal_tasks.c.done_at.is_(None)
                )
            )
            await self._audit(conn, audit)
