"""Run `edigate serve` as a real subprocess, the way an operator does.

The service writes its log to a file in the test's directory so a test can scan every line
(for example for CPR numbers) after the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness.ports import free_port

REPO = Path(__file__).resolve().parents[2]
WALL_FACTOR = 6  # a start's wall-time limit, in multiples of its CPU budget
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (0 once it is gone: its exit is seen elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass
class Service:
    config_path: Path
    port: int
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "service.log"

    def start(self, timeout: float = 30.0) -> Service:
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edigate", "serve", "--config", str(self.config_path)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.starts += 1
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()  # a start that failed leaves no service behind (callers stop only what started)
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until /healthz answers 200, or the service has spent `timeout` seconds of CPU without answering.

        CPU seconds, not wall seconds: a start needs about the same work each time, but on a shared, loaded
        machine it gets a fraction of a core and its wall time stretches (the health world's start, niced beside
        two busy loops at load 5-6, took 43 s; a 30 s wall limit failed it). A start that waits without working (a lock,
        a port) ends at WALL_FACTOR times `timeout` of wall time.
        """
        assert self.proc is not None
        started = time.monotonic()
        while (spent := cpu_seconds(self.proc.pid)) < timeout and time.monotonic() - started < WALL_FACTOR * timeout:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"edigate exited with {self.proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-4000:]
        waited = time.monotonic() - started
        raise TimeoutError(
            f"edigate not healthy after {spent:.1f} s of CPU (budget {timeout}), {waited:.1f} s:\n{tail}"
        )

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def make_service(
    config_text: str, workdir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> Service:
    """Write the config (with `{port}` filled in) and return an unstarted service."""
    port = port or free_port()
    config_path = workdir / "edigate.toml"
    config_path.write_text(config_text.replace("{port}", str(port)), encoding="utf-8")
    return Service(config_path=config_path, port=port, workdir=workdir, env=env or {})


@dataclass
class Fleet:
    """The services one fixture starts; `stop` at teardown stops each of them."""

    services: list[Service] = field(default_factory=list)

    def start(self, service: Service) -> Service:
        """Keep `service` for teardown (even if starting fails), then start it."""
        self.services.append(service)
        return service.start()

    def stop(self) -> None:
        for service in self.services:
            service.stop()
