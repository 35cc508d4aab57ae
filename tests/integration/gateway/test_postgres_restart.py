"""PostgreSQL restarted (the real server, `pg_ctlcluster … restart`) while messages flow.

While it is away ingest answers 503, never a false 202; it resumes by itself; every message that got a 202
reaches the receiver. This restarts the machine's PostgreSQL, so it runs only against the local cluster and
skips with the reason where `pg_ctlcluster` is missing or we are not root.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import postgres_reachable
from tests.harness.delivered import wait_delivered
from tests.integration.gateway.conftest import TOKENS, Gateway
from tests.unit.medcom.samples import xdis91_message

RATE_PER_S = 50
SECONDS = 12


def _cluster() -> list[str]:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("restarting PostgreSQL needs root and pg_ctlcluster (Debian's postgresql-common)")
    versions = sorted(os.listdir("/etc/postgresql"))
    if not versions:
        pytest.skip("no PostgreSQL cluster under /etc/postgresql")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]


async def flow(gw: Gateway, cluster: list[str], outcomes: collections.Counter[str]) -> set[str]:
    """Post at a steady rate; restart PostgreSQL a few seconds in; keep posting through and after it."""
    accepted: set[str] = set()
    headers = {"Authorization": f"Bearer {TOKENS['hospital']}", "Content-Type": "application/xml"}
    loop = asyncio.get_running_loop()

    async def restart() -> None:
        await asyncio.sleep(3)
        await loop.run_in_executor(None, lambda: subprocess.run([*cluster, "stop", "-m", "fast"], check=True))
        await asyncio.sleep(2)  # away for a while, not just a blink
        await loop.run_in_executor(None, lambda: subprocess.run([*cluster, "start"], check=True))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one(i: int) -> None:
            env = f"ENVPGR{i:05d}"
            body = xdis91_message(envelope_id=env, letter_id=f"LETPGR{i:05d}")
            async with session.post(gw.url + "/api/v1/messages", data=body, headers=headers) as resp:
                await resp.read()
                outcomes[str(resp.status)] += 1
                if resp.status == 202:
                    accepted.add(env)

        restarter = asyncio.create_task(restart())
        tasks = []
        for i in range(RATE_PER_S * SECONDS):
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(1 / RATE_PER_S)
        await asyncio.gather(*tasks)
        await restarter
    return accepted


@pytest.mark.postgres
def test_postgres_restart_while_messages_flow(gateway_factory: object, storage_url: str) -> None:
    if not storage_url.startswith("postgresql"):
        pytest.skip("this is the PostgreSQL restart test; SQLite has no server to restart")
    cluster = _cluster()
    gw: Gateway = gateway_factory()  # type: ignore[operator]
    outcomes: collections.Counter[str] = collections.Counter()
    try:
        accepted = asyncio.run(flow(gw, cluster, outcomes))
    finally:
        if not postgres_reachable():
            subprocess.run([*cluster, "start"], check=False)
    print(f"\npostgres restart: outcomes {dict(outcomes)}")
    assert set(outcomes) <= {"202", "503"}, f"only 202 or 503 may come back: {dict(outcomes)}"
    assert outcomes["503"] > 0, f"PostgreSQL was away but nothing got 503: {dict(outcomes)}"

    # resumes by itself: new messages are accepted without restarting edigate
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline:
        status = gw.post(xdis91_message(envelope_id="ENVPGRAFTER", letter_id="LETPGRAFTER")).status
        if status == 202:
            break
        time.sleep(0.5)
    assert status == 202, f"ingest did not resume after the restart:\n{gw.service.log_text()[-3000:]}"
    accepted.add("ENVPGRAFTER")

    rx = gw.municipality_rx
    missing = accepted - set(wait_delivered(rx, accepted, timeout=60, poll=0.3))
    print(f"postgres restart: {len(accepted)} got 202, {len(missing)} missing at the receiver")
    assert not missing, f"{len(missing)} messages that got 202 never arrived: {sorted(missing)[:10]}"
