"""Database handle shared by the gateway store and the outage procedure's storage.

One engine per process. SQLite runs in WAL mode with `synchronous=FULL`, so a commit is on disk before
the reply. Each component (gateway, notify, …) registers its own numbered migrations, so two modules
never edit one migration list; `schema_migrations` records what has run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MigrationStep = Callable[[Connection], None]

_MIGRATIONS: dict[str, list[MigrationStep]] = {}

schema_migrations = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


def register_migrations(component: str, steps: list[MigrationStep]) -> None:
    """Declare a component's migrations in order; step N (1-based) runs once, in a transaction."""
    _MIGRATIONS[component] = steps


class StorageUrlError(ValueError):
    pass


def to_sqlalchemy_url(url: str) -> str:
    """Map the operator's `sqlite:///path` or `postgresql://…` to the async driver URL."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise StorageUrlError("storage.url must start with sqlite:/// or postgresql://")


@dataclass
class Database:
    engine: AsyncEngine
    dialect: str  # "sqlite" | "postgresql"

    @classmethod
    def open(cls, url: str, **engine_kwargs: Any) -> Database:
        sa_url = to_sqlalchemy_url(url)
        if sa_url.startswith("sqlite"):
            engine = create_async_engine(sa_url, **engine_kwargs)
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            return cls(engine, "sqlite")
        engine_kwargs.setdefault("pool_size", 10)
        engine_kwargs.setdefault("pool_pre_ping", True)
        return cls(create_async_engine(sa_url, **engine_kwargs), "postgresql")

    async def migrate(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_run_migrations)

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # A new file only (no effect once tables exist): retention's freed pages can go back to the file
    # system in small steps (edigate.store.retention.release_space) instead of only by a full VACUUM.
    cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _run_migrations(conn: Connection) -> None:
    schema_migrations.create(conn, checkfirst=True)
    done = {row.component: row.version for row in conn.execute(sa.select(schema_migrations))}
    for component, steps in _MIGRATIONS.items():
        current = done.get(component, 0)
        for version, step in enumerate(steps, start=1):
            if version <= current:
                continue
            step(conn)
            if current == 0 and version == 1:
                conn.execute(sa.insert(schema_migrations).values(component=component, version=1))
            else:
                conn.execute(
                    sa.update(schema_migrations)
                    .where(schema_migrations.c.component == component)
                    .values(version=version)
                )
            current = version
