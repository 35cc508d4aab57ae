"""The real `edigate serve` subprocess with real HTTP receivers, on SQLite and on PostgreSQL.

Partners of the test world (fictitious EANs):
- HOSPITAL (http -> hospital_rx), MUNICIPALITY (http -> municipality_rx),
- MAILBOX_MUNI (mailbox), DIRECTORY_MUNI (directory), PICKY_MUNI (accepts XDIS20 only),
- the client ENGINE speaks for HOSPITAL and HOSPITAL2.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.receiver import Receiver
from tests.harness.service import Service, make_service

HOSPITAL = "5790001382445"  # = samples.HOSPITAL_EAN
HOSPITAL2 = "5790001382452"
MUNICIPALITY = "5790000198765"  # = samples.MUNICIPALITY_EAN
MAILBOX_MUNI = "5790000198772"
DIRECTORY_MUNI = "5790000198789"
PICKY_MUNI = "5790000198796"
UNKNOWN = "5790000000000"

TOKENS = {
    "hospital": "tok-hospital",
    "municipality": "tok-municipality",
    "mailbox": "tok-mailbox",
    "directory": "tok-directory",
    "engine": "tok-engine",
    "admin": "tok-admin",
}


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def config_text(
    storage_url: str, hospital_url: str, municipality_url: str, outdir: Path, **delivery: Any
) -> str:
    d = {
        "backoff_base_seconds": 0.1,
        "backoff_max_seconds": 0.5,
        "circuit_failure_threshold": 3,
        "circuit_open_seconds": 0.5,
        "poll_interval_seconds": 0.2,
        "worker_lease_seconds": 3.0,
        "mailbox_lease_seconds": 2.0,
        "http_timeout_seconds": 3.0,
        **delivery,
    }
    delivery_toml = "\n".join(f"{k} = {json.dumps(v)}" for k, v in d.items())
    return f"""
[server]
listen = "127.0.0.1:{{port}}"
max_body_bytes = 200000
[storage]
url = "{storage_url}"
[delivery]
{delivery_toml}

[[admins]]
name = "test admin"
tokens_sha256 = ["{sha(TOKENS["admin"])}"]

[[clients]]
name = "integration engine"
tokens_sha256 = ["{sha(TOKENS["engine"])}"]
eans = ["{HOSPITAL}", "{HOSPITAL2}"]

[[partners]]
ean = "{HOSPITAL}"
name = "Testsygehus Syd"
kind = "hospital"
cluster = "Fyn"
tokens_sha256 = ["{sha(TOKENS["hospital"])}"]
delivery = {{ kind = "http", url = "{hospital_url}" }}

[[partners]]
ean = "{HOSPITAL2}"
name = "Testsygehus Nord"
kind = "hospital"
cluster = "Fyn"
delivery = {{ kind = "directory", path = "{outdir / "hospital2"}" }}

[[partners]]
ean = "{MUNICIPALITY}"
name = "Testkommune"
kind = "municipality"
cluster = ["Lillebælt", "Sydvestjylland"]
tokens_sha256 = ["{sha(TOKENS["municipality"])}"]
delivery = {{ kind = "http", url = "{municipality_url}" }}

[[partners]]
ean = "{MAILBOX_MUNI}"
name = "Postkassekommune"
kind = "municipality"
cluster = "Fyn"
tokens_sha256 = ["{sha(TOKENS["mailbox"])}"]
delivery = {{ kind = "mailbox" }}

[[partners]]
ean = "{DIRECTORY_MUNI}"
name = "Mappekommune"
kind = "municipality"
cluster = "Fyn"
tokens_sha256 = ["{sha(TOKENS["directory"])}"]
delivery = {{ kind = "directory", path = "{outdir / "directory-muni"}" }}

[[partners]]
ean = "{PICKY_MUNI}"
name = "Kræsen Kommune"
kind = "municipality"
cluster = "Fyn"
accepts = ["XDIS20"]
delivery = {{ kind = "mailbox" }}
"""


@dataclass
class Reply:
    status: int
    body: Any

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body!r:.400})"


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
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        status = exc.code
    try:
        return Reply(status, json.loads(raw))
    except ValueError:
        return Reply(status, raw)


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'edigate.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def gateway_factory(storage_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Gateway] = []
    receivers: list[Receiver] = []

    def make(
        hospital_rx: Receiver | None = None, municipality_rx: Receiver | None = None, **delivery: Any
    ) -> Gateway:
        if hospital_rx is None:
            hospital_rx = Receiver().start()
            receivers.append(hospital_rx)
        if municipality_rx is None:
            municipality_rx = Receiver().start()
            receivers.append(municipality_rx)
        outdir = tmp_path / "out"
        workdir = tmp_path / f"svc{len(started)}"
        workdir.mkdir()
        text = config_text(storage_url, hospital_rx.url, municipality_rx.url, outdir, **delivery)
        svc = make_service(text, workdir)
        gw = Gateway(svc, hospital_rx, municipality_rx, outdir)
        started.append(gw)
        svc.start()
        return gw

    yield make
    for gw in started:
        gw.service.stop()
    for rx in receivers:
        rx.stop()


@pytest.fixture
def gateway(gateway_factory: Any) -> Gateway:
    return gateway_factory()  # type: ignore[no-any-return]
