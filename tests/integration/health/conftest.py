"""The real service (subprocess) with route health wired, a real receiver, a real SMTP server and a
running clock file: the service's "now" starts at a chosen instant (e.g. a Tuesday 10:00, inside the
notice window and EDI support hours) and then runs at real speed, so second-scale health thresholds work.

Test world (fictitious EANs, = tests/unit/medcom/samples): HOSPITAL sends to MUNICIPALITY (http -> the
`receiver` fixture); HOSPITAL2 and a second municipality complete the matrix.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, HOSPITAL2, MUNICIPALITY, MUNICIPALITY2
from tests.harness.http import Reply, request
from tests.harness.receiver import Receiver
from tests.harness.service import Fleet, Service, make_service
from tests.harness.smtp import ReceivedMail, SmtpServer
from tests.harness.wait import wait_until

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
FAST_DELIVERY = {  # second-scale retries, so a receiver outage shows within a test
    "backoff_base_seconds": 0.2,
    "backoff_max_seconds": 0.5,
    "circuit_failure_threshold": 3,
    "circuit_open_seconds": 0.5,
    "poll_interval_seconds": 0.2,
    "worker_lease_seconds": 3.0,
    "http_timeout_seconds": 3.0,
}
FAST_HEALTH = {  # thresholds in seconds rather than minutes
    "interval_seconds": 0.3,
    "down_unreachable_minutes": 5 / 60,  # down after 5 s unreachable
    "degraded_unreachable_minutes": 2 / 60,
    "down_oldest_pending_minutes": 30 / 60,
    "degraded_oldest_pending_minutes": 10 / 60,
    "recovery_hold_minutes": 2 / 60,
}


def partner(ean: str, name: str, kind: str, delivery: dict[str, Any], token_name: str | None = None) -> str:
    """A partner in the Fyn cluster with its MAILBOX address and, when named, its token."""
    token = TOKENS[token_name] if token_name else None
    return cfg.partner(ean, name, kind, "Fyn", delivery, token=token, mailbox=MAILBOX[ean])


def config_text(
    storage_url: str,
    receiver_url: str,
    outdir: Path,
    smtp_port: int,
    *,
    health: dict[str, Any] | None = None,
    metrics: bool = True,
    log_level: str = "info",
    delivery: dict[str, Any] | None = None,
) -> str:
    """The health world; `health` overrides or adds [health] settings."""
    in_dir = cfg.directory_delivery
    return "".join(
        [
            cfg.base(storage_url, "EDI-support admin", TOKENS["admin"]),
            cfg.table("logging", {"level": log_level}),
            cfg.table("metrics", {"enabled": metrics}),
            cfg.table("delivery", {**FAST_DELIVERY, **(delivery or {})}),
            cfg.table("health", {**FAST_HEALTH, **(health or {})}),
            cfg.table("alerts", {"repeat_interval_minutes": 60, "max_reminders": 1}),
            partner(HOSPITAL, "Testsygehus Syd", "hospital", in_dir(outdir / "hospital"), "hospital"),
            partner(HOSPITAL2, "Testsygehus Nord", "hospital", in_dir(outdir / "hospital2"), "hospital2"),
            partner(MUNICIPALITY, "Testkommune", "municipality", cfg.http_delivery(receiver_url), "municipality"),
            partner(MUNICIPALITY2, "Postkassekommune", "municipality", cfg.MAILBOX_DELIVERY),
            cfg.outage_notify(EDI_SUPPORT, ON_CALL, smtp_port),
        ]
    )


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
        headers = {"Content-Type": content_type} if body is not None else {}
        bearer = TOKENS.get(token, token) if token else None
        reply = request(self.service.base_url + path, method, body, token=bearer, headers=headers, text=True)
        self.responses.append(reply.raw)
        return reply

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
        def explain() -> str:
            mails = [(m.subject, m.rcpt_tos) for m in self.mails()]
            return f"timed out waiting for {what}; mails: {mails}\nlog tail:\n{self.service.log_text()[-3000:]}"

        return wait_until(predicate, timeout, explain)


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
    fleet = Fleet()
    clocks: list[RunningClock] = []

    def make(*, start: datetime = TUESDAY_10, storage_url: str | None = None, **config: Any) -> World:
        clock = RunningClock(tmp_path / "clock.txt", start)
        clocks.append(clock)
        url = storage_url or cfg.sqlite_url(tmp_path / "edigate.db")
        text = config_text(url, receiver.url, tmp_path / "out", smtp_server.port, **config)
        svc = make_service(text, tmp_path, env={"EDIGATE_CLOCK_FILE": str(clock.path)})
        svc = HealthService(svc.config_path, svc.port, svc.workdir, svc.env)
        fleet.start(svc)
        return World(svc, receiver, smtp_server, clock)

    yield make
    fleet.stop()
    for clock in clocks:
        clock.stop()
