"""The real service (subprocess) with route health wired, a real receiver, a real SMTP server and a
running clock file: the service's "now" starts at a chosen instant (e.g. a Tuesday 10:00, inside the
notice window and EDI support hours) and then runs at real speed, so second-scale health thresholds work.

Test world (fictitious EANs, = tests/unit/medcom/samples): HOSPITAL sends to MUNICIPALITY (http -> the
`receiver` fixture); HOSPITAL2 and a second municipality complete the matrix.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness.receiver import Receiver
from tests.harness.service import Service, make_service
from tests.harness.smtp import ReceivedMail, SmtpServer

HOSPITAL = "5790001382445"  # = samples.HOSPITAL_EAN
HOSPITAL2 = "5790001382452"
MUNICIPALITY = "5790000198765"  # = samples.MUNICIPALITY_EAN
MUNICIPALITY2 = "5790000198772"
EDI_SUPPORT = "edi-support@rsyd.example"
ON_CALL = "driftsvagt@rsyd.example"
MAILBOX = {
    HOSPITAL: "edi@sygehus-syd.example",
    HOSPITAL2: "edi@sygehus-nord.example",
    MUNICIPALITY: "edi@testkommune.example",
    MUNICIPALITY2: "edi@postkassekommune.example",
}
TOKENS = {
    "hospital": "tok-hospital",
    "hospital2": "tok-hospital2",
    "municipality": "tok-municipality",
    "admin": "tok-admin",
}
# Tuesday 24 November 2026, 10:00 in Copenhagen: inside the 08-22 window and EDI support hours
TUESDAY_10 = datetime.fromisoformat("2026-11-24T10:00:00+01:00")


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config_text(
    storage_url: str,
    receiver_url: str,
    outdir: Path,
    smtp_port: int,
    *,
    health: dict[str, Any] | None = None,
    metrics: bool = True,
    log_level: str = "info",
) -> str:
    h = {
        "interval_seconds": 0.3,
        "down_unreachable_minutes": 5 / 60,  # down after 5 s unreachable
        "degraded_unreachable_minutes": 2 / 60,
        "down_oldest_pending_minutes": 30 / 60,
        "degraded_oldest_pending_minutes": 10 / 60,
        "recovery_hold_minutes": 2 / 60,
        **(health or {}),
    }
    health_toml = "\n".join(f"{k} = {json.dumps(v)}" for k, v in h.items())
    return f"""
[server]
listen = "127.0.0.1:{{port}}"
[storage]
url = "{storage_url}"
[logging]
level = "{log_level}"
[metrics]
enabled = {json.dumps(metrics)}
[delivery]
backoff_base_seconds = 0.2
backoff_max_seconds = 0.5
circuit_failure_threshold = 3
circuit_open_seconds = 0.5
poll_interval_seconds = 0.2
worker_lease_seconds = 3.0
http_timeout_seconds = 3.0
[health]
{health_toml}
[alerts]
repeat_interval_minutes = 60
max_reminders = 1

[[admins]]
name = "EDI-support admin"
tokens_sha256 = ["{sha(TOKENS["admin"])}"]

[[partners]]
ean = "{HOSPITAL}"
name = "Testsygehus Syd"
kind = "hospital"
cluster = "Fyn"
mailbox = "{MAILBOX[HOSPITAL]}"
tokens_sha256 = ["{sha(TOKENS["hospital"])}"]
delivery = {{ kind = "directory", path = "{outdir / "hospital"}" }}

[[partners]]
ean = "{HOSPITAL2}"
name = "Testsygehus Nord"
kind = "hospital"
cluster = "Fyn"
mailbox = "{MAILBOX[HOSPITAL2]}"
tokens_sha256 = ["{sha(TOKENS["hospital2"])}"]
delivery = {{ kind = "directory", path = "{outdir / "hospital2"}" }}

[[partners]]
ean = "{MUNICIPALITY}"
name = "Testkommune"
kind = "municipality"
cluster = "Fyn"
mailbox = "{MAILBOX[MUNICIPALITY]}"
tokens_sha256 = ["{sha(TOKENS["municipality"])}"]
delivery = {{ kind = "http", url = "{receiver_url}" }}

[[partners]]
ean = "{MUNICIPALITY2}"
name = "Postkassekommune"
kind = "municipality"
cluster = "Fyn"
mailbox = "{MAILBOX[MUNICIPALITY2]}"
delivery = {{ kind = "mailbox" }}

[notify]
public_url = "http://127.0.0.1:{{port}}"
edi_support_email = "{EDI_SUPPORT}"
on_call_email = "{ON_CALL}"
scheduler_max_sleep_seconds = 0.3
outbox_poll_seconds = 0.2
outbox_max_backoff_seconds = 1.0

[notify.mail]
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
from = "EDI-support Region Syddanmark <{EDI_SUPPORT}>"
timeout_seconds = 3
"""


class RunningClock:
    """Writes `start + (monotonic elapsed)` to the clock file ten times a second (atomically)."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self.start = start
        self.offset = timedelta(0)
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self.write()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> datetime:
        return self.start + self.offset + timedelta(seconds=time.monotonic() - self._t0)

    def jump(self, delta: timedelta) -> None:
        """Travel forward (the service sees the jump on its next read)."""
        self.offset += delta
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(self.now().isoformat(), encoding="utf-8")
        tmp.replace(self.path)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.write()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


class HealthService(Service):
    """The real `edigate serve` subprocess; route health is part of `build_app`."""


@dataclass
class Reply:
    status: int
    body: Any
    raw: bytes = b""


@dataclass
class World:
    service: Service
    receiver: Receiver
    smtp: SmtpServer
    clock: RunningClock
    responses: list[bytes] = field(default_factory=list)  # every API response body, for the CPR scan

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        token: str | None = "admin",
        content_type: str = "application/json",
    ) -> Reply:
        req = urllib.request.Request(self.service.base_url + path, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", content_type)
        if token:
            req.add_header("Authorization", f"Bearer {TOKENS.get(token, token)}")
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                raw, status = resp.read(), resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        self.responses.append(raw)
        try:
            return Reply(status, json.loads(raw), raw)
        except ValueError:
            return Reply(status, raw.decode("utf-8", "replace"), raw)

    def post_message(self, xml: bytes, token: str = "hospital") -> Reply:
        return self.call("POST", "/api/v1/messages", xml, token=token, content_type="application/xml")

    def post_json(self, path: str, data: Any) -> Reply:
        return self.call("POST", path, json.dumps(data).encode())

    def route(self, sender: str, receiver: str) -> dict[str, Any] | None:
        reply = self.call("GET", "/api/v1/routes")
        assert reply.status == 200, reply
        routes = reply.body["routes"]
        return next((r for r in routes if r["sender"] == sender and r["receiver"] == receiver), None)

    def metrics(self) -> str:
        reply = self.call("GET", "/metrics", token=None)
        assert reply.status == 200, reply
        return str(reply.body)

    def mails(self) -> list[ReceivedMail]:
        with self.smtp.catcher.lock:
            return list(self.smtp.catcher.mails)

    def wait_until(self, predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(
            f"timed out waiting for {what}; mails: {[(m.subject, m.rcpt_tos) for m in self.mails()]}\n"
            f"log tail:\n{self.service.log_text()[-3000:]}"
        )


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (labels must all match)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        m = re.match(r"^(\w+)(?:\{(.*)\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


@pytest.fixture
def world_factory(tmp_path: Path, smtp_server: SmtpServer, receiver: Receiver) -> Iterator[Any]:
    started: list[World] = []

    def make(*, start: datetime = TUESDAY_10, storage_url: str | None = None, **config: Any) -> World:
        clock = RunningClock(tmp_path / "clock.txt", start)
        url = storage_url or f"sqlite:///{tmp_path / 'edigate.db'}"
        text = config_text(url, receiver.url, tmp_path / "out", smtp_server.port, **config)
        svc = make_service(text, tmp_path, env={"EDIGATE_CLOCK_FILE": str(clock.path)})
        svc = HealthService(svc.config_path, svc.port, svc.workdir, svc.env)
        world = World(svc, receiver, smtp_server, clock)
        started.append(world)
        svc.start()
        return world

    yield make
    for w in started:
        w.service.stop()
        w.clock.stop()
