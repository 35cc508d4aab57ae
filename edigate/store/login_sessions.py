"""SQL `notify.session.LoginSessions`: the open logged-in sessions of the outage form, shared by every
instance on the database, so a logout on one instance ends the session on all of them.

Own table. Expired rows are deleted whenever a session is opened.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.schema import UtcDateTime

metadata = sa.MetaData()

login_sessions = sa.Table(
    "notify_login_sessions",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("expires_at", UtcDateTime, nullable=False),
)


class SqlLoginSessions:
    def __init__(self, database: Database) -> None:
        self.engine = database.engine

    async def open(self, sid: str, expires_at: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(login_sessions).where(login_sessions.c.expires_at < datetime.now(UTC)))
            await conn.execute(sa.insert(login_sessions).values(sid=sid, expires_at=expires_at))

    async def is_open(self, sid: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.scalar(
                sa.select(login_sessions.c.sid).where(
                    login_sessions.c.sid == sid, login_sessions.c.expires_at > datetime.now(UTC)
                )
            )
        return found is not None

    async def close(self, sid: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(sa.delete(login_sessions).where(login_sessions.c.sid == sid))
