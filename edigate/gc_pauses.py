"""Garbage collection in the long-running service: keep full collections short, and show the long ones.

CPython's collector stops every thread while it walks a generation. A full (generation 2) collection walks
every container object still alive, and after start-up that is mostly what never goes away: the modules,
the compiled schemas' Python wrappers, SQLAlchemy's and Jinja's caches, the settings. Measured in the
300 msg/s soak (issue 14), such a collection stalled ingest for 100-600 ms every minute or two.

:func:`freeze_startup_objects` runs once everything has started: one full collection, then `gc.freeze()`
moves the survivors to the permanent generation, which no later collection walks. :class:`PauseWatch`
times every collection (wall clock and the thread's own CPU) and logs `gc_pause` for each one that took
longer than a threshold, so a stall in production can be told apart from a slow disk or a busy loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import structlog

log = structlog.get_logger()

#: a collection longer than this (wall clock) is logged as `gc_pause`
PAUSE_LOG_MS = 50.0
#: `EDIGATE_GC_FREEZE=0` leaves the start-up objects in the collections: only to measure the difference
FREEZE_ENV = "EDIGATE_GC_FREEZE"


def freeze_startup_objects() -> int:
    """Collect once, then exclude every object alive now from later collections; returns how many (0 when
    switched off by EDIGATE_GC_FREEZE=0)."""
    if os.environ.get(FREEZE_ENV, "1") == "0":
        return 0
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


@dataclass
class PauseWatch:
    """A `gc.callbacks` entry that logs collections longer than `log_ms` and keeps the longest one seen.

    The collector may run inside any allocation, also one made while the log's own output lock is held, so
    the callback only notes the pause; the event loop writes the log line right after (`call_soon_threadsafe`),
    never the collector's callback itself (it would wait for that lock for ever)."""

    log_ms: float = PAUSE_LOG_MS
    longest_ms: float = 0.0
    logged: int = 0
    _started: tuple[float, float] = field(default=(0.0, 0.0), repr=False)
    _noted: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=100), repr=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        """Watch every collection; the pauses are logged by `loop`."""
        self._loop = loop
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    @property
    def callback_installed(self) -> bool:
        return self._callback in gc.callbacks

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        # called by the collector in whichever thread triggered it, with the collector itself off
        if phase == "start":
            self._started = (time.perf_counter(), time.thread_time())
            return
        wall_ms = (time.perf_counter() - self._started[0]) * 1000
        self.longest_ms = max(self.longest_ms, wall_ms)
        if wall_ms < self.log_ms:
            return
        self.logged += 1
        self._noted.append(
            {
                "generation": info.get("generation"),
                "ms": round(wall_ms, 1),
                # below `ms`: the process waited for a CPU meanwhile
                "cpu_ms": round((time.thread_time() - self._started[1]) * 1000, 1),
                "collected": info.get("collected"),
            }
        )
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody left to tell
                self._loop.call_soon_threadsafe(self._log_noted)

    def _log_noted(self) -> None:
        while self._noted:
            log.warning("gc_pause", **self._noted.popleft())
