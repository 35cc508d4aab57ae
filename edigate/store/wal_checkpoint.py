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

PASSIVE alone hardly ever lets the WAL start again from its first frame under steady writes: a writer does
that only when its transaction begins with every frame already copied back, and a PASSIVE round (copy + fsync
of the database file, 30-100 ms at 300 msg/s) nearly always ends after the next commit (bench/bench_wal_restart.py:
0 times in 20 s, the WAL at 67,000 frames; the 300 s soak: 3 times). So past RESTART_FRAMES the thread runs a
RESTART, which holds every writer from the moment it has the write lock until it has copied and synced what
is left and the readers on an older snapshot are gone. Straight after one PASSIVE, with a 2 s wait, that held
writers 75-140 ms (bench_wal_restart) and in the soak up to 1.6 s. The thread therefore first catches up with
more PASSIVE rounds, each shorter than the one before, until the RESTART has only a commit or two left to
copy, and the RESTART waits at most RESTART_WAIT_MS for the writer of the moment and for those readers:
busy, it is tried again the next second (soak: RESTARTs 0-36 ms, p50 5 ms; 11 of 84 busy). Only a WAL past
CEILING_FRAMES gets a RESTART that waits as long as it takes, so the WAL stays bounded.
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
#: past this many frames (~40 MB) the thread restarts the WAL from its beginning (a RESTART checkpoint)
RESTART_FRAMES = 10_000
#: a RESTART waits at most this for the writer of the moment and for older readers, holding writers meanwhile
RESTART_WAIT_MS = 10
#: past this many frames (~400 MB) a RESTART waits up to CEILING_WAIT_MS: the WAL must stay bounded
CEILING_FRAMES = 100_000
CEILING_WAIT_MS = 2_000
#: PASSIVE rounds before a RESTART, until one finds at most CAUGHT_UP_FRAMES new frames to copy
CATCH_UP_ROUNDS = 4
CAUGHT_UP_FRAMES = 200
#: a checkpoint at least this long is logged (`wal_checkpoint_slow`): its fsync shares the disk with commits
SLOW_CHECKPOINT_MS = 50.0


class WalCheckpointer:
    """Checkpoints the WAL of the SQLite file at `path` every `interval` seconds until stopped."""

    def __init__(
        self,
        path: str,
        interval: float = CHECKPOINT_EVERY_SECONDS,
        restart_frames: int = RESTART_FRAMES,
        ceiling_frames: int = CEILING_FRAMES,
    ) -> None:
        self.path = path
        self.interval = interval
        self.restart_frames = restart_frames
        self.ceiling_frames = ceiling_frames
        self.checkpoints = 0
        self.restarts = 0
        self.restarts_busy = 0
        self.longest_ms = 0.0
        self.longest_restart_ms = 0.0
        self.last_restart_ms = 0.0
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

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint (in the checkpoint thread), and past `restart_frames` the catch-up rounds and
        one RESTART: (busy, frames in the WAL, frames copied back) of the last one."""
        assert self._conn is not None, "start() first"
        started = time.perf_counter()
        busy, frames, copied = self._passive()
        if frames > self.restart_frames:
            busy, frames, copied = self._restart(frames, copied)
        self.checkpoints += 1
        took_ms = (time.perf_counter() - started) * 1000
        self.longest_ms = max(self.longest_ms, took_ms)
        if took_ms >= SLOW_CHECKPOINT_MS:
            log.warning("wal_checkpoint_slow", ms=round(took_ms, 1), frames=frames, copied=copied)
        return busy, frames, copied

    def _passive(self) -> tuple[int, int, int]:
        assert self._conn is not None
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)

    def _restart(self, frames: int, copied: int) -> tuple[int, int, int]:
        """Catch up without holding anyone, then RESTART with a short wait (a long one past the ceiling)."""
        assert self._conn is not None
        rounds = 0
        while rounds < CATCH_UP_ROUNDS:
            rounds += 1
            _, now, copied_now = self._passive()
            new, frames, copied = now - copied, now, copied_now
            if new <= CAUGHT_UP_FRAMES:
                break
        if frames <= self.restart_frames:  # a writer started the WAL again meanwhile (soak: 3 of 84 times)
            return 0, frames, copied
        wait_ms = CEILING_WAIT_MS if frames > self.ceiling_frames else RESTART_WAIT_MS
        self._conn.execute(f"PRAGMA busy_timeout={wait_ms}")
        started, frames_before, copied_before = time.perf_counter(), frames, copied
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        held_ms = (time.perf_counter() - started) * 1000
        if frames < 0:  # busy before it had the write lock: SQLite reports no WAL figures; the last known ones
            frames, copied = frames_before, copied_before
        self.restarts += 1
        self.restarts_busy += bool(busy)
        self.last_restart_ms = held_ms
        self.longest_restart_ms = max(self.longest_restart_ms, held_ms)
        log.warning(  # it held writers back, if only for a few ms: shown at the service's usual level
            "wal_checkpoint_restart",
            frames=frames,
            busy=busy,
            ms=round(held_ms, 1),
            copied=copied - copied_before,  # what it copied and synced itself, holding the writers if not busy
            catch_up=rounds,
            wait_ms=wait_ms,
        )
        return int(busy), int(frames), int(copied)
