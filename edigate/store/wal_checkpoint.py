"""SQLite: the WAL is copied back into the database file by a thread of its own, never by a commit.

By default SQLite checkpoints in the connection whose COMMIT takes the WAL past 1,000 pages: that commit
copies the WAL into the database file and syncs it before it returns, and every message of its batch
waits for that work before its 202. At 300 msg/s this happens every second or two. Measured on this
machine (30-row batches at 10/s, 40 s, load ~18): commit p99 40-90 ms and 9-15 commits over 20 ms with
the checkpoint in the commit, against p99 14-17 ms and 2-3 over 20 ms with this thread (issue 14).

The service's connections therefore set `wal_autocheckpoint=0` (`Database.open(..., wal_checkpoints=
"thread")`) and :class:`WalCheckpointer` runs `PRAGMA wal_checkpoint(PASSIVE)` every second on its own
connection, in its own thread: PASSIVE waits for no reader or writer and no one waits for it (sqlite3
releases the GIL meanwhile). Commands run beside the service (`edigate purge`, the CLI) keep SQLite's
default, so their writes are checkpointed even when no service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import structlog

from edigate.tasks import cancel_and_wait

log = structlog.get_logger()

#: how often the thread checkpoints: about what 300 msg/s write into the WAL between two default checkpoints
CHECKPOINT_EVERY_SECONDS = 1.0
#: A PASSIVE checkpoint never waits, so under steady writes it may never find the WAL quiet enough to be
#: restarted from its beginning, and the WAL file would grow. Past this many frames (~40 MB) the thread
#: runs one RESTART checkpoint: it waits (up to RESTART_WAIT_MS) for the writer of the moment and holds
#: new writers back while it copies, once, so the WAL stays bounded.
RESTART_FRAMES = 10_000
RESTART_WAIT_MS = 2_000
#: a checkpoint at least this long is logged (`wal_checkpoint_slow`): its fsync shares the disk with commits
SLOW_CHECKPOINT_MS = 50.0


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite file at `path` every `interval` seconds until stopped."""

    def __init__(
        self, path: str, interval: float = CHECKPOINT_EVERY_SECONDS, restart_frames: int = RESTART_FRAMES
    ) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        self.checkpoints = 0
        self.restarts = 0
        self.longest_ms = 0.0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-checkpoint")
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._open)
        self._task = loop.create_task(self._run(), name="sqlite-checkpoint")

    async def stop(self) -> None:
        """Stop the loop, copy back what the last commits wrote, close the connection."""
        await cancel_and_wait(self._task)
        self._task = None
        loop = asyncio.get_running_loop()
        with contextlib.suppress(sqlite3.Error):
            await loop.run_in_executor(self._thread, self.checkpoint)
        await loop.run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await loop.run_in_executor(self._thread, self.checkpoint)
            except sqlite3.Error as exc:  # the next round tries again; the WAL only grows meanwhile
                log.warning("wal_checkpoint_failed", error=type(exc).__name__)

    def _open(self) -> None:
        # autocommit: a checkpoint cannot run inside a transaction
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")  # used by RESTART only

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint (in the checkpoint thread), a RESTART one when the WAL has grown past
        `restart_frames`: (busy, frames in the WAL, frames copied back)."""
        assert self._conn is not None, "start() first"
        started = time.perf_counter()
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > self.restart_frames:
            busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            self.restarts += 1
            log.warning(  # it held writers back: a stall, shown at the service's usual level
                "wal_checkpoint_restart", frames=frames, busy=busy, ms=round((time.perf_counter() - started) * 1000)
            )
        self.checkpoints += 1
        took_ms = (time.perf_counter() - started) * 1000
        self.longest_ms = max(self.longest_ms, took_ms)
        if took_ms >= SLOW_CHECKPOINT_MS:
            log.warning("wal_checkpoint_slow", ms=round(took_ms, 1), frames=frames, copied=copied)
        return int(busy), int(frames), int(copied)
