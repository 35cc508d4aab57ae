"""A SIGKILLed `edigate demo` leaves no `edigate serve` behind: the service follows its parent (issue 12).

The demo starts the service in a session of its own (so Ctrl-C reaches the demo first), which also means
nothing stops the service when the demo is killed outright. Here a real process starts the demo's service
exactly as the demo does (DemoService.start), waits until it answers, and is then killed with SIGKILL; the
service must be gone within a few seconds and its port free again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.processes import running

REPO = Path(__file__).resolve().parents[3]
GONE_WITHIN_SECONDS = 10.0  # the kernel's SIGTERM comes at once; the graceful stop takes a moment

# The demo's own parts: its config, its clock, its service starter. Prints the service's pid, then waits.
STARTER = """
import sys, time
from pathlib import Path
from edigate.demo.config import DemoTimings, demo_settings, write_config
from edigate.demo.service import DemoClock, DemoService, demo_start

workdir, port = Path(sys.argv[1]), int(sys.argv[2])
(workdir / "mail").mkdir(parents=True, exist_ok=True)
clock = DemoClock(workdir / "clock.txt", demo_start())
raw = demo_settings(port=port, workdir=workdir, receiver_url="http://127.0.0.1:9", timings=DemoTimings(4))
service = DemoService(write_config(raw, workdir / "edigate.toml"), port, workdir, clock.path)
service.start()
print(service.proc.pid, flush=True)
time.sleep(600)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the service binds: TIME_WAIT is no owner
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _wait(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc to see whether the service runs")
@pytest.mark.timeout(120)
def test_killed_demo_leaves_no_service_behind(tmp_path: Path) -> None:
    port = _free_port()
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(tmp_path), str(port)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    service_pid = 0
    try:
        assert starter.stdout is not None
        service_pid = int(starter.stdout.readline())
        assert _wait(lambda: _ready(port), 60), (tmp_path / "service.log").read_text(errors="replace")[-3000:]

        starter.send_signal(signal.SIGKILL)
        starter.wait(10)
        t0 = time.monotonic()
        gone = _wait(lambda: not running(service_pid), GONE_WITHIN_SECONDS)
        print(f"service gone {time.monotonic() - t0:.2f} s after the demo's SIGKILL")
        assert gone, "edigate serve outlived the SIGKILLed demo"
        assert _wait(lambda: _port_free(port), 5), f"port {port} still taken"
        log = (tmp_path / "service.log").read_text(errors="replace")
        assert "edigate_stopped" in log, log[-3000:]  # a graceful stop, not a crash
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        if service_pid and running(service_pid):
            os.kill(service_pid, signal.SIGKILL)  # only the process this test started


def test_serve_refuses_a_parent_pid_that_is_not_its_parent(tmp_path: Path) -> None:
    """A stale EDIGATE_PARENT_PID (its demo already gone) is one line and no service, not a silent orphan."""
    env = {**os.environ, "EDIGATE_PARENT_PID": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "edigate", "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "EDIGATE_PARENT_PID=1 is not this process's parent" in proc.stderr
    assert "Traceback" not in proc.stderr
