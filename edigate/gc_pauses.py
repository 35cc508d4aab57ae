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

import gc
import os
import time
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
    """A `gc.callbacks` entry that logs collections longer than `log_ms` and keeps the longest one seen."""

    log_ms: float = PAUSE_LOG_MS
    longest_ms: float = 0.0
    logged: int = 0
    _started: tuple[float, float] = field(default=(0.0, 0.0), repr=False)

    def install(self) -> None:
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
        if wall_ms >= self.log_ms:
            self.logged += 1
            cpu_ms = (time.thread_time() - self._started[1]) * 1000
            log.warning(
                "gc_pause",
                generation=info.get("generation"),
                ms=round(wall_ms, 1),
                cpu_ms=round(cpu_ms, 1),  # below `ms`: the process waited for a CPU meanwhile
                collected=info.get("collected"),
            )
