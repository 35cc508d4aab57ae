"""Database handle shared by the gateway store and the outage procedure's storage.

One engine per process. SQLite runs in WAL mode with `synchronous=FULL`, so a commit is on disk before
the reply. The schema's history is one ordered line of Alembic revisions (edigate/migrations/versions);
`migrate` runs what is missing, in one transaction, one process at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from edigate import migrations

#: advisory-lock key (bigint) held by the transaction that migrates: the ASCII bytes of "edigatem"
MIGRATION_LOCK_KEY = int.from_bytes(b"edigatem", "big") & 0x7FFF_FFFF_FFFF_FFFF


class StorageUrlError(ValueError):
    pass


#: SQLite: who copies the WAL back into the database file. "commit": SQLite's default, the commit that
#: takes the WAL past 1,000 pages; "thread": edigate.store.wal_checkpoint, in the service only.
WalCheckpoints = Literal["commit", "thread"]

#: PostgreSQL: the settings of every edigate session. The service's statements are short index reads and
#: writes beside a latency target (ingest p99 < 100 ms), on a server it shares with few cores. A statement
#: the planner prices high (the health tick's recent outcomes once an hour of traffic is stored: cost
#: ~400,000) otherwise gets JIT compilation (120 ms of CPU each tick above `jit_above_cost`, far more
#: above `jit_optimize_above_cost`) and two parallel workers (three processes on two cores), every five
#: seconds: what made the 3 M soak's windows slow (issue 14, bench/results/soak-postgresql.md). Neither
#: makes such a statement faster here; an operator's ad-hoc queries keep the server's defaults.
PG_SESSION_SETTINGS = {"jit": "off", "max_parallel_workers_per_gather": "0"}


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
    wal_checkpoints: WalCheckpoints = "commit"

    @classmethod
    def open(cls, url: str, *, wal_checkpoints: WalCheckpoints = "commit", **engine_kwargs: Any) -> Database:
        sa_url = to_sqlalchemy_url(url)
        if sa_url.startswith("sqlite"):
            engine = create_async_engine(sa_url, **engine_kwargs)
            db = cls(engine, "sqlite", wal_checkpoints)
            event.listen(engine.sync_engine, "connect", db.sqlite_pragmas)
            return db
        engine_kwargs.setdefault("pool_size", 10)
        engine_kwargs.setdefault("pool_pre_ping", True)
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        connect_args["server_settings"] = {**PG_SESSION_SETTINGS, **connect_args.get("server_settings", {})}
        engine_kwargs["connect_args"] = connect_args
        return cls(create_async_engine(sa_url, **engine_kwargs), "postgresql")

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision, all of it in one transaction or none of it.

        Two instances starting at once never both migrate: on PostgreSQL the transaction first takes an advisory
        lock (the second waits, then finds nothing left to do); on SQLite BEGIN IMMEDIATE takes the write lock.
        SQLite's foreign keys are off meanwhile: rebuilding a table (its way to change a column's type) drops a
        parent table; the revision that does so checks them before the commit."""
        async with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no effect inside a transaction
                await conn.commit()
            try:
                async with conn.begin():
                    if self.dialect == "sqlite":
                        await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    else:
                        await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    await conn.run_sync(migrations.upgrade)
            finally:
                if self.dialect == "sqlite":
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    await conn.commit()

    async def close(self) -> None:
        await self.engine.dispose()

    @property
    def sqlite_pragmas(self) -> Callable[[Any, Any], None]:
        """The connect hook for every SQLite connection to this database (also the store's writer's own)."""
        return functools.partial(_sqlite_pragmas, autocheckpoint=self.wal_checkpoints == "commit")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, *, autocheckpoint: bool = True) -> None:
    cur = dbapi_conn.cursor()
    # A new file only (no effect once tables exist): retention's freed pages can go back to the file
    # system in small steps (edigate.store.retention.release_space) instead of only by a full VACUUM.
    cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    if not autocheckpoint:  # no commit copies the WAL back: edigate.store.wal_checkpoint's thread does
        cur.execute("PRAGMA wal_autocheckpoint=0")
    cur.close()
