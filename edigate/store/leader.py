"""One leader for the time-based jobs: a PostgreSQL session advisory lock held on its own connection.

Two `edigate serve` processes may share one PostgreSQL database. Message delivery is safe on both
(rows are claimed), but the time-based jobs — the outage procedure's scheduled notices, the mail
outbox sender, the ack-overdue sweep and the health loop's alert mails and draft incidents — must run
on exactly one instance, never twice. The instance that holds ``pg_try_advisory_lock(LEADER_LOCK_KEY)``
runs them. A session lock lives as long as its connection: when the leader dies (kill -9) PostgreSQL
releases it and the next non-leader to retry takes over. The leader checks its connection with a cheap
query every period; if it fails it steps down at once (its jobs stop) and retries like any other.

On SQLite only one process can own the file, so that single instance is always the leader.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from edigate.tasks import cancel_and_wait

__all__ = ["LEADER_LOCK_KEY", "LeaderElection", "asyncpg_dsn"]

log = structlog.get_logger("edigate.leader")

#: fixed advisory-lock key (bigint) for "the edigate leader": the ASCII bytes of "edigatel"
LEADER_LOCK_KEY = int.from_bytes(b"edigatel", "big") & 0x7FFF_FFFF_FFFF_FFFF
#: how often a non-leader retries and a leader checks its connection
DEFAULT_PERIOD_SECONDS = 2.0
#: a check that takes longer than this counts as a lost connection
CHECK_TIMEOUT_SECONDS = 5.0


def asyncpg_dsn(url: str) -> str:
    """`postgresql+asyncpg://…` / `postgres://…` -> the plain DSN asyncpg accepts."""
    return "postgresql://" + url.split("://", 1)[1]


class LeaderElection:
    """``is_leader()`` is what the time-based jobs ask before each pass (cheap: a flag)."""

    def __init__(self, url: str, dialect: str, *, period_seconds: float = DEFAULT_PERIOD_SECONDS) -> None:
        self.dialect = dialect
        self.period_seconds = period_seconds
        self._dsn = asyncpg_dsn(url) if dialect == "postgresql" else ""
        self._leader = dialect != "postgresql"
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None

    def is_leader(self) -> bool:
        return self._leader

    async def start(self) -> None:
        if self.dialect != "postgresql":
            log.info("leader_acquired", dialect=self.dialect, reason="single instance")
            return
        await self.attempt()  # first try at once, so a lone instance leads from its first second
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        was = self._leader and self.dialect == "postgresql"
        await self._drop_connection()
        if was:
            log.info("leader_released")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period_seconds)
            try:
                await self.attempt()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the election task die
                log.warning("leader_check_failed", error=type(exc).__name__)

    async def attempt(self) -> bool:
        """One period: a leader checks its connection, a non-leader tries to take the lock."""
        if self._leader:
            if await self._connection_alive():
                return True
            self._leader = False
            log.warning("leader_lost", reason="lock connection failed; leader jobs stop until re-acquired")
            await self._drop_connection()
            return False
        try:
            import asyncpg  # lazy: only PostgreSQL elects a leader; a SQLite instance never loads it

            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that meets the answer in
            # one loop pass, and stop() would then wait for this loop forever
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._dsn)
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                got = await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK_KEY)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("leader_unavailable", error=type(exc).__name__)
            await self._drop_connection()
            return False
        if got:
            self._leader = True
            log.info("leader_acquired", dialect="postgresql", lock_key=LEADER_LOCK_KEY)
        return bool(got)

    async def _connection_alive(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            return False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await self._conn.fetchval("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        return True

    async def _drop_connection(self) -> None:
        """Terminate, not close: a hung connection must not keep us waiting (the server frees the lock)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                conn.terminate()
