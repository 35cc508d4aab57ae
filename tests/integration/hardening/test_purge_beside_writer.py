"""`edigate purge` beside a live writer (issue 14): retention works in small transactions with a pause
between them, so the writer's group commits keep going while a purge runs; none fails, on SQLite and on
PostgreSQL. (Before, on a 3 M store, the purge held the write lock for seconds per batch and the
service's commits failed for minutes.)"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from edigate.clock import system_clock
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import IngestItem
from edigate.store.schema import messages
from tests.harness.old_messages import fill_old
from tests.unit.gateway.envelopes import envelope

REPO = Path(__file__).resolve().parents[3]
OLD_BODIES = 12_000
BODY = b"<x>" + b"y" * 1500 + b"</x>"


async def test_purge_beside_a_writer_fails_no_commit(storage_url: str, tmp_path: Path) -> None:
    db = Database.open(storage_url)
    store = MessageStore(db, system_clock)
    await store.start()
    try:
        await fill_old(db, OLD_BODIES, BODY)
        cfg = tmp_path / "purge.toml"
        cfg.write_text(f'[storage]\nurl = "{storage_url}"\n', encoding="utf-8")
        purge = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edigate",
            "purge",
            "--config",
            str(cfg),
            "--days",
            "30",
            cwd=REPO,
            env=dict(os.environ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        latencies: list[float] = []
        failures: list[str] = []
        n = 0

        async def writer() -> None:
            nonlocal n
            while purge.returncode is None:
                n += 1
                started = time.perf_counter()
                try:
                    await store.accept(IngestItem(envelope(f"NEW{n}", (f"NL{n}",)), BODY))
                except Exception as exc:  # a failed commit: exactly what must not happen
                    failures.append(f"{type(exc).__name__}: {exc}"[:300])
                latencies.append(time.perf_counter() - started)

        purge_started = time.perf_counter()
        writers = [asyncio.create_task(writer()) for _ in range(4)]
        out, err = await asyncio.wait_for(purge.communicate(), timeout=300)
        purge_seconds = time.perf_counter() - purge_started
        await asyncio.gather(*writers)
        assert purge.returncode == 0, err.decode()[-2000:]
        assert out.decode().startswith(f"purged {OLD_BODIES} message bodies"), out.decode()
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
        print(
            f"\n{storage_url.split(':')[0]}: purged {OLD_BODIES} bodies in {purge_seconds:.1f} s "
            f"({OLD_BODIES / purge_seconds:.0f}/s) beside a writer that committed {len(latencies)} messages "
            f"(p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms)"
        )
        assert not failures, failures[:5]
        assert len(latencies) >= 20, "the writer hardly ran while the purge did"
        assert latencies[-1] < 5.0, f"one commit waited {latencies[-1]:.1f} s for the purge"
        async with db.engine.connect() as conn:
            kept = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        messages.c.envelope_id.like("OLD%"), sa.func.length(messages.c.body) > 0
                    )
                )
            ).scalar_one()
            new = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        messages.c.envelope_id.like("NEW%"), sa.func.length(messages.c.body) > 0
                    )
                )
            ).scalar_one()
        assert kept == 0 and new == len(latencies)
    finally:
        await store.stop()
        await db.close()
