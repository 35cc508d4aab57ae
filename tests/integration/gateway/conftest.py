"""The real `edigate serve` subprocess with real HTTP receivers, on SQLite and on PostgreSQL.

Partners of the test world (fictitious EANs):
- HOSPITAL (http -> hospital_rx), MUNICIPALITY (http -> municipality_rx),
- MAILBOX_MUNI (mailbox), DIRECTORY_MUNI (directory), PICKY_MUNI (accepts XDIS20 only),
- the client ENGINE speaks for HOSPITAL and HOSPITAL2.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, HOSPITAL2, MUNICIPALITY
from tests.harness.eans import MUNICIPALITY2 as MAILBOX_MUNI
from tests.harness.http import Reply, request
from tests.harness.receiver import Receiver
from tests.harness.service import Fleet, Service, make_service

DIRECTORY_MUNI = "5790000198788"
PICKY_MUNI = "5790000198795"
UNKNOWN = "5790000000005"

TOKENS = {
    "hospital": "tok-hospital",
    "municipality": "tok-municipality",
    "mailbox": "tok-mailbox",
    "directory": "tok-directory",
    "engine": "tok-engine",
    "admin": "tok-admin",
}
FAST_DELIVERY = {  # second-scale retries, so failures show within a test
    "backoff_base_seconds": 0.1,
    "backoff_max_seconds": 0.5,
    "circuit_failure_threshold": 3,
    "circuit_open_seconds": 0.5,
    "poll_interval_seconds": 0.2,
    "worker_lease_seconds": 3.0,
    "mailbox_lease_seconds": 2.0,
    "http_timeout_seconds": 3.0,
}


def config_text(
    storage_url: str,
    hospital_url: str,
    municipality_url: str,
    outdir: Path,
    *,
    gateway_ean: str | None = None,
    **delivery: Any,
) -> str:
    """The gateway world; `delivery` overrides or adds [delivery] settings; `gateway_ean`: [medcom]'s own EAN."""
    fyn, mailbox = "Fyn", cfg.MAILBOX_DELIVERY
    return "".join(
        [
            cfg.base(storage_url, "test admin", TOKENS["admin"], max_body_bytes=200000),
            cfg.table("medcom", {"gateway_ean": gateway_ean}) if gateway_ean else "",
            cfg.table("delivery", {**FAST_DELIVERY, **delivery}),
            cfg.client("integration engine", TOKENS["engine"], [HOSPITAL, HOSPITAL2]),
            cfg.partner(
                HOSPITAL, "Testsygehus Syd", "hospital", fyn, cfg.http_delivery(hospital_url), token=TOKENS["hospital"]
            ),
            cfg.partner(HOSPITAL2, "Testsygehus Nord", "hospital", fyn, cfg.directory_delivery(outdir / "hospital2")),
            cfg.partner(
                MUNICIPALITY,
                "Testkommune",
                "municipality",
                ["Lillebælt", "Sydvestjylland"],
                cfg.http_delivery(municipality_url),
                token=TOKENS["municipality"],
            ),
            cfg.partner(MAILBOX_MUNI, "Postkassekommune", "municipality", fyn, mailbox, token=TOKENS["mailbox"]),
            cfg.partner(
                DIRECTORY_MUNI,
                "Mappekommune",
                "municipality",
                fyn,
                cfg.directory_delivery(outdir / "directory-muni"),
                token=TOKENS["directory"],
            ),
            cfg.partner(PICKY_MUNI, "Kræsen Kommune", "municipality", fyn, mailbox, accepts=["XDIS20"]),
        ]
    )


def call(
    base: str,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    token: str | None = None,
    content_type: str = "application/xml",
    timeout: float = 15.0,
) -> Reply:
    """One request; non-JSON bodies come back as bytes."""
    return request(base + path, method, body, token=token, headers={"Content-Type": content_type}, timeout=timeout)


@dataclass
class Gateway:
    service: Service
    hospital_rx: Receiver
    municipality_rx: Receiver
    outdir: Path

    @property
    def url(self) -> str:
        return self.service.base_url

    def post(self, xml: bytes, token_name: str = "hospital", **kw: Any) -> Reply:
        return call(self.url, "POST", "/api/v1/messages", xml, token=TOKENS.get(token_name, token_name), **kw)

    def get(self, path: str, token_name: str = "admin") -> Reply:
        return call(self.url, "GET", path, token=TOKENS.get(token_name, token_name))


@pytest.fixture
def gateway_factory(storage_url: str, tmp_path: Path) -> Iterator[Any]:
    fleet = Fleet()
    receivers: list[Receiver] = []

    def make(
        hospital_rx: Receiver | None = None,
        municipality_rx: Receiver | None = None,
        *,
        gateway_ean: str | None = None,
        **delivery: Any,
    ) -> Gateway:
        if hospital_rx is None:
            hospital_rx = Receiver().start()
            receivers.append(hospital_rx)
        if municipality_rx is None:
            municipality_rx = Receiver().start()
            receivers.append(municipality_rx)
        outdir = tmp_path / "out"
        workdir = tmp_path / f"svc{len(fleet.services)}"
        workdir.mkdir()
        urls = (hospital_rx.url, municipality_rx.url)
        text = config_text(storage_url, *urls, outdir, gateway_ean=gateway_ean, **delivery)
        gw = Gateway(make_service(text, workdir), hospital_rx, municipality_rx, outdir)
        fleet.start(gw.service)
        return gw

    yield make
    fleet.stop()
    for rx in receivers:
        rx.stop()


@pytest.fixture
def gateway(gateway_factory: Any) -> Gateway:
    return gateway_factory()  # type: ignore[no-any-return]
