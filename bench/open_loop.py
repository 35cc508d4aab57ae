"""What the open-loop benchmarks (bench_soak, bench_purge_load) share: the record of every answer, the
summary per time window, and a sender that does not disturb what it measures.

Latency is counted from each message's scheduled send time, so a stall anywhere (the service, the machine,
the sender itself) shows as latency. The sender's own pauses must therefore stay small: the answers are
kept in flat arrays (no object per answer for the garbage collector to walk), finished request tasks are
dropped, the start-up objects are frozen out of collections and every collection of the sender is timed
(`SenderPauses`), so a report can show that a slow window was not the sender's doing.
"""

from __future__ import annotations

import gc
import statistics
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import percentile

WINDOW = 5.0


@dataclass
class Answers:
    """Every answer as (seconds from the start when it was due, its latency in seconds, HTTP status or -1)."""

    due: array[float] = field(default_factory=lambda: array("d"))
    latency: array[float] = field(default_factory=lambda: array("d"))
    status: array[int] = field(default_factory=lambda: array("i"))

    def add(self, due: float, latency: float, status: int) -> None:
        self.due.append(due)
        self.latency.append(latency)
        self.status.append(status)

    def __len__(self) -> int:
        return len(self.status)

    def __iter__(self) -> Iterator[tuple[float, float, int]]:
        return zip(self.due, self.latency, self.status, strict=True)

    def statuses(self) -> dict[str, int]:
        return {str(k): v for k, v in sorted(Counter(self.status).items())}


def windows(answers: Answers, width: float = WINDOW) -> list[dict[str, Any]]:
    """Per `width` seconds of due time: answers, p50 / p99 / max latency (ms) and the statuses other than 202."""
    by: dict[int, list[tuple[float, int]]] = {}
    for due, lat, status in answers:
        by.setdefault(int(due // width), []).append((lat, status))
    out = []
    for w in sorted(by):
        times = sorted(x[0] for x in by[w])
        out.append(
            {
                "from_s": w * width,
                "answers": len(times),
                "p50_ms": round(statistics.median(times) * 1000, 1),
                "p99_ms": round(percentile(times, 0.99) * 1000, 1),
                "max_ms": round(times[-1] * 1000, 1),
                "not_202": {str(k): v for k, v in sorted(Counter(s for _, s in by[w] if s != 202).items())},
            }
        )
    return out


@dataclass
class SenderPauses:
    """The sender's own garbage-collection pauses (wall ms), installed for the length of a run."""

    pauses_ms: list[float] = field(default_factory=list)
    _started: float = 0.0

    def __enter__(self) -> SenderPauses:
        gc.collect()
        gc.freeze()  # the sender's modules and session: never walked again during the run
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._callback)
        gc.unfreeze()

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses_ms.append((time.perf_counter() - self._started) * 1000)

    def summary(self) -> dict[str, Any]:
        p = self.pauses_ms
        return {
            "collections": len(p),
            "over_20_ms": sum(1 for x in p if x >= 20),
            "max_ms": round(max(p, default=0), 1),
        }
