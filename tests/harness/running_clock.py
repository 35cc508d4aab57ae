"""A clock file (EDIGATE_CLOCK_FILE) that runs at the real clock's speed from a chosen instant, for tests whose
outcome depends on the time of day (the outage procedure informs only 08:00-22:00) but that need time to pass."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType


class RunningClockFile:
    """Writes `start` + the time elapsed since `__enter__` into `path` every `tick` seconds (whole-file
    replace, so the service never reads it half-written) until `__exit__`."""

    def __init__(self, path: Path, start: datetime, tick: float = 0.02) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start needs an offset")
        self.path, self.start, self.tick = path, start, tick
        self._began = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="running-clock", daemon=True)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._began)

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.now().isoformat(), encoding="utf-8")
        tmp.replace(self.path)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            self._write()

    def __enter__(self) -> RunningClockFile:
        self._began = time.monotonic()
        self._write()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(5)
