"""edigate.store.leader in-process against the real PostgreSQL: one leader at a time, hand-over when the
leader stops or its connection is cut; SQLite is always the leader."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from edigate.store.leader import LeaderElection


async def wait_leader(election: LeaderElection, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if election.is_leader():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_sqlite_single_instance_is_always_leader() -> None:
    election = LeaderElection("sqlite:///x.db", "sqlite")
    assert election.is_leader()
    await election.start()
    assert election.is_leader()
    await election.stop()


@pytest.mark.postgres
async def test_one_leader_and_hand_over(postgres_url: str) -> None:
    a = LeaderElection(postgres_url, "postgresql", period_seconds=0.2)
    b = LeaderElection(postgres_url, "postgresql", period_seconds=0.2)
    try:
        await a.start()
        await b.start()
        assert a.is_leader() and not b.is_leader()
        await asyncio.sleep(0.6)  # several retries of b
        assert a.is_leader() and not b.is_leader()

        # the leader's connection is cut: it steps down; exactly one leads again
        conn = await asyncpg.connect(postgres_url)
        try:
            pids = await conn.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            assert len(pids) == 1
            await conn.execute("SELECT pg_terminate_backend($1)", pids[0]["pid"])
        finally:
            await conn.close()
        await asyncio.sleep(1.0)
        assert [a.is_leader(), b.is_leader()].count(True) == 1

        # the leader stops (shutdown): the other takes over within a period or two
        leader, other = (a, b) if a.is_leader() else (b, a)
        await leader.stop()
        assert await wait_leader(other)
    finally:
        await a.stop()
        await b.stop()
