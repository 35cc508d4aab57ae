"""What stalled ingest every minute or two in the 300 msg/s soak (issue 14), pinned without timing:

- the WAL is copied back into the database file by a thread of the service's own, so none of the
  service's commits does it (SQLite's default: the commit that takes the WAL past 1,000 pages does, and
  its batch waits); the running service still copies it back;
- the objects alive after start-up are frozen out of garbage collection, so a full collection no longer
  walks them (measured: 100-600 ms pauses of every thread).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from pathlib import Path

import aiohttp

from edigate.app import build_gateway
from edigate.clock import system_clock
from edigate.settings import load_settings
from edigate.store.model import IngestItem
from edigate.store.wal_checkpoint import WalCheckpointer
from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, MUNICIPALITY
from tests.harness.service import make_service
from tests.harness.wait import wait_until
from tests.unit.gateway.envelopes import envelope
from tests.unit.medcom.samples import xdis91_message

TOKEN = "tok-hospital"
AUTO_CHECKPOINT_PAGES = 1000  # SQLite's default wal_autocheckpoint


def wal_frames(db_file: Path) -> int:
    """Frames in the WAL now (a PASSIVE checkpoint from a connection of our own reports them)."""
    with sqlite3.connect(db_file, isolation_level=None) as conn:
        return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def world(tmp_path: Path, db_file: Path) -> str:
    return "".join(
        [
            cfg.base(cfg.sqlite_url(db_file), "admin", "tok-admin", max_body_bytes=200_000),
            cfg.partner(HOSPITAL, "Testsygehus", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKEN),
            cfg.partner(MUNICIPALITY, "Testkommune", "municipality", "Fyn", cfg.MAILBOX_DELIVERY),
        ]
    )


async def test_no_commit_of_the_service_copies_the_wal_back(tmp_path: Path) -> None:
    """The store as the service builds it (build_gateway), its own commit path (group commit), no
    checkpoint thread: far more than 1,000 pages go into the WAL and none of them is copied back."""
    db_file = tmp_path / "edigate.db"
    (tmp_path / "edigate.toml").write_text(world(tmp_path, db_file).replace("{port}", "18099"), encoding="utf-8")
    gateway = build_gateway(load_settings(str(tmp_path / "edigate.toml")), system_clock)
    store = gateway.store
    await store.start()
    try:
        for start in range(0, 1000, 50):  # 1,000 messages of ~8 KB, in concurrent groups: batched commits
            await asyncio.gather(
                *(
                    store.accept(IngestItem(envelope(f"WAL{i}", (f"WL{i}",)), os.urandom(6000).hex().encode()))
                    for i in range(start, start + 50)
                )
            )
        assert store.writer.batches >= 20
        frames = await asyncio.to_thread(wal_frames, db_file)
    finally:
        await store.stop()
        await gateway.database.close()
        gateway.validation_pool.shutdown()
    # a commit that checkpoints restarts the WAL: it would never hold more than ~1,000 pages and one batch
    assert frames > 2 * AUTO_CHECKPOINT_PAGES, frames


async def test_the_checkpoint_thread_copies_the_wal_back(tmp_path: Path) -> None:
    """Once the writes pause, one round of the thread copies everything back, and the next write starts
    the WAL from its beginning again (so it does not grow while the service runs)."""
    db_file = tmp_path / "edigate.db"
    (tmp_path / "edigate.toml").write_text(world(tmp_path, db_file).replace("{port}", "18099"), encoding="utf-8")
    gateway = build_gateway(load_settings(str(tmp_path / "edigate.toml")), system_clock)
    store = gateway.store
    await store.start()
    checkpointer = WalCheckpointer(str(db_file), interval=3600)  # rounds run by the test, not the timer
    await checkpointer.start()
    try:
        await asyncio.gather(
            *(
                store.accept(IngestItem(envelope(f"CP{i}", (f"CL{i}",)), os.urandom(6000).hex().encode()))
                for i in range(500)
            )
        )
        busy, frames, copied = await asyncio.to_thread(checkpointer.checkpoint)
        assert (busy, copied) == (0, frames) and frames > AUTO_CHECKPOINT_PAGES
        await store.accept(IngestItem(envelope("CP-after", ("CL-after",)), b"<x/>"))
        _, frames_after, _ = await asyncio.to_thread(checkpointer.checkpoint)
        assert frames_after < 50, frames_after  # the WAL started again from its first frame
    finally:
        await checkpointer.stop()
        await store.stop()
        await gateway.database.close()
        gateway.validation_pool.shutdown()


async def post_messages(base_url: str, n: int) -> list[int]:
    """`n` XDIS91 of ~18 KB each (random text), 8 at a time; their statuses."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:

        async def one(i: int) -> int:
            body = xdis91_message(envelope_id=f"SOAK{i:05d}", letter_id=f"SL{i:05d}", text=os.urandom(1500).hex())
            async with session.post(f"{base_url}/api/v1/messages", data=body, headers=headers) as resp:
                await resp.read()
                return resp.status

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_the_running_service_freezes_startup_and_checkpoints(tmp_path: Path) -> None:
    db_file = tmp_path / "edigate.db"
    service = make_service(world(tmp_path, db_file), tmp_path).start()
    try:
        frozen = [json.loads(line) for line in service.log_text().splitlines() if "gc_startup_frozen" in line]
        assert frozen and frozen[0]["objects"] > 10_000, service.log_text()[-2000:]

        size_before = db_file.stat().st_size
        statuses = asyncio.run(post_messages(service.base_url, 300))
        assert set(statuses) == {202}
        # nothing but a checkpoint writes into the database file itself: the thread does, while running
        wait_until(
            lambda: db_file.stat().st_size > size_before + 500_000,
            30,
            lambda: f"no checkpoint: the database file has {db_file.stat().st_size} bytes ({size_before} before)",
        )
    finally:
        service.stop()
    assert "Traceback" not in service.log_text()
