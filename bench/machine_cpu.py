"""Where the machine's CPU went during a benchmark, second by second (the soak's per-window CPU columns).

On a 2-core VM a 5-second window's p99 depends on what else ran in it: the service, PostgreSQL, the
sender and receiver, anything else on the machine, and the hypervisor (`steal`: time the VM was ready to
run but another guest had the core). A thread reads `/proc/stat` and the named processes' CPU
(`tests.harness.service.cpu_seconds`) once a second; `per_window` folds the samples into the bench's
windows as CPU-seconds per second, and `other` is the machine's busy time no named process accounts for.
Nothing of this runs in the product.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bench.sampler_thread import SamplerThread
from tests.harness.service import cpu_seconds

TICKS = os.sysconf("SC_CLK_TCK")
INTERVAL = 1.0


def machine_seconds() -> tuple[float, float]:
    """(busy, steal) CPU-seconds of all CPUs since boot: busy is user + nice + system + irq + softirq."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / TICKS, steal / TICKS


def pids_named(comm: str) -> list[int]:
    """Every process whose command name is `comm` (PostgreSQL's backends come and go: read them each time)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii", errors="replace") as fh:
                    if fh.read().strip() == comm:
                        out.append(int(entry))
            except OSError:
                continue
    return out


class MachineCpu(SamplerThread):
    """Samples every `interval` s until stopped: `groups` maps a name to a function giving its pids now."""

    name = "machine-cpu"

    def __init__(self, groups: Mapping[str, Callable[[], Sequence[int]]], interval: float = INTERVAL) -> None:
        self.groups = dict(groups)
        self.samples: list[dict[str, Any]] = []  # wall time `t` and cumulative CPU-seconds, per sample
        super().__init__(interval)

    def _run(self) -> None:
        while not self._stop.is_set():
            busy, steal = machine_seconds()
            sample: dict[str, Any] = {"t": time.time(), "busy": busy, "steal": steal}
            for name, pids in self.groups.items():
                sample[name] = {pid: cpu_seconds(pid) for pid in pids()}
            self.samples.append(sample)
            self._stop.wait(self.interval)

    def per_window(self, started_unix: float, width: float = 5.0) -> dict[float, dict[str, float]]:
        """CPU-seconds per second in each window from `started_unix`: `busy`, `steal`, each group, `other`.

        A process counts from its second sample on (its ticks before the first one are not this window's)."""
        acc: dict[float, dict[str, float]] = {}
        for a, b in zip(self.samples, self.samples[1:], strict=False):
            span = b["t"] - a["t"]
            if span <= 0:
                continue
            start = (a["t"] - started_unix) // width * width
            row = acc.setdefault(start, {"seconds": 0.0})
            row["seconds"] += span
            row["busy"] = row.get("busy", 0.0) + b["busy"] - a["busy"]
            row["steal"] = row.get("steal", 0.0) + b["steal"] - a["steal"]
            named = 0.0
            for name in self.groups:
                used = sum(max(0.0, b[name][pid] - a[name].get(pid, b[name][pid])) for pid in b[name])
                row[name] = row.get(name, 0.0) + used
                named += used
            row["other"] = row.get("other", 0.0) + max(0.0, b["busy"] - a["busy"] - named)
        return {
            start: {k: round(v / row["seconds"], 2) for k, v in row.items() if k != "seconds"}
            for start, row in sorted(acc.items())
            if start >= 0
        }
