"""The demo's own edigate: a real `edigate serve` subprocess on a test clock that the demo moves forward.

The outage procedure sends list notices only between 08:00 and 22:00, so the service reads "now" from
EDIGATE_CLOCK_FILE: a recent weekday at 10:00 Copenhagen time plus the real time elapsed since the demo
started. The demo then behaves the same at 03:00 as at noon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp

from edigate.tasks import cancel_and_wait
from notify.config import NotifySettings, RuleOverrides
from notify.policy import DEFAULT_RULES, ProcedureRules, in_support_hours, in_window
from notify.scheduler import rules_from

LOCAL = ZoneInfo("Europe/Copenhagen")


def demo_rules(example: Path) -> ProcedureRules:
    """The example's `[notify.rules]` as the service will apply them (support hours, closing days …)."""
    raw = tomllib.loads(example.read_text(encoding="utf-8"))
    overrides = raw.get("notify", {}).get("rules", {})
    return rules_from(NotifySettings(rules=RuleOverrides.model_validate(overrides)))


def demo_start(today: date | None = None, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """The latest day on or before `today` on which EDI support is open at 10:00 local time by `rules` (not a
    weekend, a Danish public holiday or one of the region's closing days, such as 24 December), at 10:00: the
    story's reports are handled and its notices go out at once."""
    day = today or datetime.now(LOCAL).date()
    for _ in range(366):
        start = datetime(day.year, day.month, day.day, 10, 0, tzinfo=LOCAL)
        if in_support_hours(start, rules) and in_window(start, rules):
            return start
        day -= timedelta(days=1)
    raise ValueError("EDI support is open at 10:00 on no day of the last year ([notify.rules] support_hours)")


class DemoClock:
    """Writes `start + elapsed` to the clock file; the service and the simulated systems read the same."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self.start = start
        self._t0 = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self.write()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._t0)

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self().isoformat(), encoding="utf-8")
        os.replace(tmp, self.path)  # the service never reads half an instant

    async def _tick(self) -> None:
        while True:
            self.write()
            await asyncio.sleep(0.1)

    def run(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="demo-clock")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)


class DemoService:
    """`python -m edigate serve --config <workdir>/edigate.toml`, its log in `<workdir>/service.log`."""

    def __init__(self, config_path: Path, port: int, workdir: Path, clock_file: Path) -> None:
        self.config_path = config_path
        self.port = port
        self.workdir = workdir
        self.clock_file = clock_file
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "service.log"

    def start(self) -> None:
        env = {
            **os.environ,
            "EDIGATE_CLOCK_FILE": str(self.clock_file),
            "PYTHONUNBUFFERED": "1",
            # the service stops when the demo ends, however it ends (kill -9 included): see `serve`
            "EDIGATE_PARENT_PID": str(os.getpid()),
        }
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edigate", "serve", "--config", str(self.config_path)],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the demo, which then stops the service in order
            )

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"edigate serve exited with code {self.returncode}; see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{self.base_url}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"edigate serve was not ready after {timeout:.0f} s; see {self.log_path}")

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: in-flight requests finish, the writer commits), then SIGKILL if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
