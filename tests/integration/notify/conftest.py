"""The real `edigate serve` subprocess with the outage procedure (`[notify]`), a real SMTP server
(aiosmtpd) and a clock file (EDIGATE_CLOCK_FILE) so a test can move time, e.g. past 08:00.

The test world (fictitious EANs): two hospitals, four municipalities in the health clusters Fyn and
Lillebælt (Vejen is in two), and Regional IT. Reporters: Odense's EOJ system owner, Regional IT, an admin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness import config as cfg
from tests.harness.http import request
from tests.harness.service import Service, make_service
from tests.harness.smtp import ReceivedMail, SmtpServer
from tests.harness.wait import wait_until

OUH = "5799999000119"
SLB = "5799999000102"
ODENSE = "5799999000201"
ASSENS = "5799999000225"
KOLDING = "5799999000232"
VEJEN = "5799999000249"
REGION = "5799999000003"
MAILBOX = {
    OUH: "edi@ouh.example",
    SLB: "edi@slb.example",
    ODENSE: "edi@odense.example",
    ASSENS: "edi@assens.example",
    KOLDING: "edi@kolding.example",
    VEJEN: "edi@vejen.example",
}
HOSPITALS = {MAILBOX[OUH], MAILBOX[SLB]}
MUNICIPALITIES = {MAILBOX[ODENSE], MAILBOX[ASSENS], MAILBOX[KOLDING], MAILBOX[VEJEN]}
EDI_SUPPORT = "edi-support@rsyd.example"
ON_CALL = "driftsvagt@rsyd.example"
TOKENS = {"odense": "tok-odense-eoj", "region": "tok-regional-it", "admin": "tok-admin"}
CONTACT = {"name": "Hanne Hansen", "phone": "+45 65 51 10 00", "email": "hanne@odense.example"}
WEBHOOK_SECRET_ENV = "EDIGATE_TEST_WEBHOOK_SECRET"
WEBHOOK_SECRET = "hemmelig-nøgle"
CONTACTS = {
    "edi_support_phone": "24 90 87 31",
    "on_call_phone": "76 73 10 10",
    "duty_phones": {"Odense": "65 51 10 00", "Assens": "64 74 74 74"},
}


def partner(ean: str, name: str, kind: str, cluster: str | list[str], outdir: Path) -> str:
    """A partner that files into `outdir/<ean>`, with the token `partner-<ean>` and its MAILBOX address if any."""
    delivery = cfg.directory_delivery(outdir / ean)
    return cfg.partner(ean, name, kind, cluster, delivery, token=f"partner-{ean}", mailbox=MAILBOX.get(ean))


def config_text(storage_url: str, smtp_port: int, workdir: Path, *, webhooks: Sequence[str] = (), **notify: Any) -> str:
    """The outage-procedure world; `notify` adds [notify] settings, each of `webhooks` gets the shared secret."""
    out = workdir / "out"
    hooks = [cfg.table("notify.webhooks", {"url": u, "secret_env": WEBHOOK_SECRET_ENV}, array=True) for u in webhooks]
    return "".join(
        [
            cfg.base(storage_url, "EDI-support admin", TOKENS["admin"]),
            partner(OUH, "Odense Universitetshospital", "hospital", "Fyn", out),
            partner(SLB, "Sygehus Lillebælt", "hospital", "Lillebælt", out),
            partner(ODENSE, "Odense Kommune", "municipality", "Fyn", out),
            partner(ASSENS, "Assens Kommune", "municipality", "Fyn", out),
            partner(KOLDING, "Kolding Kommune", "municipality", "Lillebælt", out),
            partner(VEJEN, "Vejen Kommune", "municipality", ["Lillebælt", "Sydvestjylland"], out),
            partner(REGION, "Regional IT", "region", [], out),
            cfg.outage_notify(EDI_SUPPORT, ON_CALL, smtp_port, **notify),
            cfg.reporter("EOJ Odense", ODENSE, "eoj", TOKENS["odense"]),
            cfg.reporter("Regional IT", REGION, "regional-it", TOKENS["region"]),
            cfg.table("notify.contacts", CONTACTS),
            *hooks,
        ]
    )


@dataclass
class NotifyWorld:
    service: Service
    smtp: SmtpServer
    clock_file: Path
    incidents_filed: list[int] = field(default_factory=list)

    # ---- time
    def set_clock(self, iso: str) -> None:
        datetime.fromisoformat(iso)  # fail early on a typo
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(iso, encoding="utf-8")
        tmp.replace(self.clock_file)

    # ---- HTTP
    def call(
        self, method: str, path: str, body: Any = None, token: str | None = "odense", raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        bearer = TOKENS[token] if token else None
        url = self.service.base_url + path
        reply = request(url, method, data, token=bearer, headers=headers, timeout=10, text=True)
        return reply.status, reply.body

    def file(self, token: str = "odense", **fields: Any) -> dict[str, Any]:
        body = {
            "kind": "acute",
            "cause": "EOJ-systemet er nede",
            "affected_messages": ["XDIS17"],
            "contact": CONTACT,
            **fields,
        }
        status, reply = self.call("POST", "/api/v1/incidents", body, token=token)
        assert status == 201, reply
        return reply

    def incident(self, incident_id: int) -> dict[str, Any]:
        status, reply = self.call("GET", f"/api/v1/incidents/{incident_id}", token="admin")
        assert status == 200, reply
        return reply

    def count_incidents(self) -> int:
        status, reply = self.call("GET", "/api/v1/incidents", token="admin")
        assert status == 200, reply
        return len(reply["incidents"])

    # ---- mail
    def mails(self) -> list[ReceivedMail]:
        with self.smtp.catcher.lock:
            return list(self.smtp.catcher.mails)

    def wait_mails(self, count: int, timeout: float = 20.0) -> list[ReceivedMail]:
        return self.smtp.catcher.wait_for(count, timeout)

    def notices(self, prefix: str) -> list[ReceivedMail]:
        return [m for m in self.mails() if m.subject.startswith(prefix)]

    def wait_until(self, predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
        def explain() -> str:
            return f"timed out waiting for {what}; mails: {[m.subject for m in self.mails()]}"

        return wait_until(predicate, timeout, explain)


def recipients(mails: list[ReceivedMail]) -> list[str]:
    return sorted(r for m in mails for r in m.rcpt_tos)


def build_world(
    tmp_path: Path,
    smtp: SmtpServer,
    storage_url: str | None = None,
    *,
    clock: str,
    smtp_port: int | None = None,
    env: dict[str, str] | None = None,
    **kw: Any,
) -> NotifyWorld:
    clock_file = tmp_path / "clock.txt"
    clock_file.write_text(clock, encoding="utf-8")
    url = storage_url or cfg.sqlite_url(tmp_path / "edigate.db")
    text = config_text(url, smtp_port or smtp.port, tmp_path, **kw)
    service = make_service(
        text,
        tmp_path,
        env={"EDIGATE_CLOCK_FILE": str(clock_file), WEBHOOK_SECRET_ENV: WEBHOOK_SECRET, **(env or {})},
    )
    return NotifyWorld(service=service, smtp=smtp, clock_file=clock_file)


@pytest.fixture
def world_factory(tmp_path: Path) -> Iterator[Any]:
    worlds: list[NotifyWorld] = []

    def make(smtp: SmtpServer, **kw: Any) -> NotifyWorld:
        world = build_world(tmp_path, smtp, **kw)
        worlds.append(world)
        return world

    yield make
    for w in worlds:
        w.service.stop()
