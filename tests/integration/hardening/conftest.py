"""One hardened test world: the real `edigate serve` with gateway partners, the outage procedure and every
role a token can have. Fictitious EANs; mail goes to a folder.

Roles: no token, a wrong token, the sending hospital (partner), the receiving municipality (partner,
mailbox delivery), a notify reporter (the municipality's EOJ system owner), an admin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import config as cfg
from tests.harness.http import Reply, request
from tests.harness.service import Service, make_service
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN, xdis91_message

HOSPITAL = HOSPITAL_EAN  # 5790001382445, fictitious
MUNICIPALITY = MUNICIPALITY_EAN  # 5790000198764, fictitious
MAX_BODY = 200_000

TOKENS: dict[str, str | None] = {
    "anonymous": None,
    "wrong": "garbage-not-a-token-3f1c",
    "sender": "tok-hardening-hospital",
    "receiver": "tok-hardening-municipality",
    "reporter": "tok-hardening-reporter",
    "admin": "tok-hardening-admin",
}
ROLES = tuple(TOKENS)


def config_text(storage_url: str, workdir: Path) -> str:
    """The hardened world on `storage_url`; files (deliveries, mail) go below `workdir`."""
    body_timeout = {"body_read_timeout_seconds": BODY_TIMEOUT}
    return "".join(
        [
            cfg.base(storage_url, "hardening admin", TOKENS["admin"], max_body_bytes=MAX_BODY, **body_timeout),
            cfg.table("delivery", {"poll_interval_seconds": 0.2, "mailbox_lease_seconds": 2.0}),
            cfg.partner(
                HOSPITAL,
                "Testsygehus Syd",
                "hospital",
                "Fyn",
                cfg.directory_delivery(workdir / "out" / "hospital"),
                token=TOKENS["sender"],
                mailbox="edi@sygehus.example",
            ),
            cfg.partner(
                MUNICIPALITY,
                "Testkommune",
                "municipality",
                "Fyn",
                cfg.MAILBOX_DELIVERY,
                token=TOKENS["receiver"],
                mailbox="edi@kommune.example",
            ),
            cfg.notify(cfg.directory_mail(workdir / "mail")),
            cfg.reporter("EOJ Testkommune", MUNICIPALITY, "eoj", TOKENS["reporter"]),
        ]
    )


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    role: str = "admin",
    timeout: float = 20.0,
    content_type: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request as `role` (see TOKENS); `content_type` overrides a Content-Type in `headers`."""
    sent = {**(headers or {}), **({"Content-Type": content_type} if content_type else {})}
    return request(base + path, method, body, token=TOKENS[role], headers=sent, timeout=timeout)


class World:
    """The running service plus helpers to make the resources a route needs."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self._n = 0

    @property
    def url(self) -> str:
        return self.service.base_url

    def call(self, method: str, path: str, body: bytes | None = None, **kw: Any) -> Reply:
        return call(self.url, method, path, body, **kw)

    def unique(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix[:4]}{self.service.port}{self._n:05d}"  # MedCom ids: at most 14 characters

    def send(self, tag: str = "H") -> tuple[bytes, int]:
        """POST a new XDIS91 (ids `ENV<tag>…`/`LET<tag>…`, unique here) as the sender: its XML and its id."""
        xml = xdis91_message(envelope_id=self.unique(f"ENV{tag}"), letter_id=self.unique(f"LET{tag}"))
        r = self.call("POST", "/api/v1/messages", xml, role="sender", content_type="application/xml")
        assert r.status == 202, r
        return xml, int(r.body["id"])

    def send_message(self) -> int:
        return self.send()[1]

    def incident_body(self) -> dict[str, Any]:
        return {
            "kind": "acute",
            "reporting_organisation": MUNICIPALITY,
            "role": "eoj",
            "cause": "EOJ-systemet svarer ikke",
            "affected_messages": [],
            "expected_end": "2030-01-01T12:00:00+01:00",
            "contact": {"name": "Hanne Hansen", "phone": "+45 65 51 10 00", "email": "hanne@kommune.example"},
        }

    def new_incident(self) -> int:
        body = self.incident_body()
        body["affected_messages"] = ["XDIS91"]
        r = self.post_json("/api/v1/incidents", body, role="reporter")
        assert r.status == 201, r
        return int(r.body["id"])

    def new_subscription(self) -> int:
        r = self.post_json("/api/v1/subscriptions", {"email": f"{self.unique('abonnent')}@kommune.example"})
        assert r.status in (201, 202), r
        return int(r.body["id"])

    def post_json(self, path: str, body: Any, role: str = "admin") -> Reply:
        return self.call("POST", path, json.dumps(body).encode(), role=role, content_type="application/json")


def start_world(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str] | None = None) -> Iterator[World]:
    """One service (SQLite) for a test module: starting one per test would cost seconds each."""
    workdir = tmp_path_factory.mktemp("hardened")
    svc = make_service(config_text(cfg.sqlite_url(workdir / "edigate.db"), workdir), workdir, env=env)
    svc.start()
    try:
        yield World(svc)
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    yield from start_world(tmp_path_factory)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def inprocess_app(config_path: Path) -> Any:
    """The app the service builds from the same config, not started: for its route table and document."""
    from edigate.app import build_app
    from edigate.settings import load_settings

    return build_app(load_settings(config_path))


def api_document(world: World) -> dict[str, Any]:
    """The document the running service serves."""
    served = world.call("GET", "/api/v1/openapi.json", role="anonymous")
    assert served.status == 200, f"the service does not serve its OpenAPI document: {served}"
    return dict(served.body)


BODY_TIMEOUT = 3.0  # server.body_read_timeout_seconds in the test world
