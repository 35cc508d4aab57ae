"""The soak's per-window CPU columns: a process that spins for a window shows as ~1 CPU-s/s, an idle one as ~0."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.machine_cpu import MachineCpu, pids_named
from tests.harness.service import cpu_seconds


def test_a_process_shows_the_cpu_it_used_and_an_idle_one_none() -> None:
    """The sampler's account of a spinning process matches the kernel's own total for it, however loaded the
    machine is (the spinner gets what it gets); an idle process stays near zero."""
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 5\nwhile time.time() < t: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.3)
        started = time.time()
        before = cpu_seconds(spin.pid)
        with MachineCpu({"spin": lambda: [spin.pid], "idle": lambda: [idle.pid]}, interval=0.25) as seen:
            time.sleep(3.0)
        used = cpu_seconds(spin.pid) - before  # over the sampler's whole life: its samples span at most this
        windows = seen.per_window(started, width=100.0)
    finally:
        spin.kill()
        idle.kill()
    first = windows[0.0]
    seconds = seen.samples[-1]["t"] - seen.samples[0]["t"]
    assert used > 0.1, "the spinner never ran"
    assert abs(first["spin"] * seconds - used) <= 0.25 * used + 0.1, (first, used, seconds)
    assert first["idle"] <= 0.02, first
    assert first["busy"] >= first["spin"] - 0.05, first  # the machine was at least as busy as the spinner
    assert first["other"] >= 0.0


def test_pids_named_finds_this_interpreter() -> None:
    me = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"])
    try:
        time.sleep(0.2)
        with open(f"/proc/{me.pid}/comm", encoding="ascii") as fh:
            comm = fh.read().strip()
        assert me.pid in pids_named(comm)
    finally:
        me.kill()


def test_the_soak_sets_windows_with_steal_apart_from_the_rest() -> None:
    from bench.bench_soak import steal_summary

    windows = [{"from_s": 0.0, "p99_ms": 40.0}, {"from_s": 5.0, "p99_ms": 158.0}, {"from_s": 10.0, "p99_ms": 60.0}]
    cpu = {"0.0": {"steal": 0.0}, "5.0": {"steal": 0.04}, "10.0": {"steal": 0.0}}
    text = steal_summary({"windows": windows, "cpu_per_window": cpu})
    assert text == (
        "with steal 1 windows, p99 median 158.0 / max 158.0 ms, 1 ≥ 100 ms; "
        "without 2 windows, p99 median 50.0 / max 60.0 ms, 0 ≥ 100 ms"
    )
    assert steal_summary({"windows": windows}) == "not sampled"
