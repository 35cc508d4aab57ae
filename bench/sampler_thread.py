"""A benchmark's background sampler: a daemon thread that runs while a `with` block does (pg_trace, machine_cpu)."""

from __future__ import annotations

import threading
from typing import Self


class SamplerThread:
    """Starts `_run` in a daemon thread on entry; on exit sets `_stop` (which `_run` watches) and joins it."""

    name = "sampler"

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        raise NotImplementedError
