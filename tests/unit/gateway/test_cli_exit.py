"""`python -m edigate …` exits without the interpreter's final collections over every object of the ~1,000
imported modules (0.5-0.9 s at each exit: each `edigate serve` stop, each `edigate validate`): the
collector is frozen when the command is done. atexit handlers still run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# `python -m edigate outage plan …` as runpy runs it, with an atexit handler that reports what the exit sees
PROBE = """
import atexit, gc, runpy, sys
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count()))
sys.argv = ["edigate", "outage", "plan", "--kind", "acute", "--reported-at", "2026-11-22T23:30",
            "--expected-end", "2026-11-23T03:00"]
runpy.run_module("edigate", run_name="__main__", alter_sys=True)
"""


def test_a_command_exits_with_the_collector_frozen_and_atexit_run() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"downtime_minutes": 210' in done.stdout  # the command itself ran
    frozen = int(done.stdout.rsplit("frozen at exit:", 1)[1])
    assert frozen > 10_000, f"only {frozen} objects frozen at exit"
