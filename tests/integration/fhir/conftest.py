"""The real `edigate serve` with MedCom FHIR messages, real HTTP receivers and the real HL7 validator.

Partners (the GLNs MedCom's examples send between, plus two of our own):
- A = 5790000209354 (http -> rx_a), B = 5790001348120 (http -> rx_b): MedCom's example organisations,
- C = 5790000198765 (mailbox): a third party, PICKY = 5790000198796 (mailbox, takes XDIS91 only).
The validator is the one the test session shares (`fhir_validator_url`).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import config as cfg
from tests.harness.http import Reply, request
from tests.harness.receiver import Receiver
from tests.harness.service import Fleet, Service, make_service
from tests.unit.fhir.examples import GLN_A, GLN_B

GLN_C = "5790000198764"  # valid GS1 check digit (dk-core checks it)
GLN_PICKY = "5790000198795"
TOKENS = {"a": "tok-a", "b": "tok-b", "c": "tok-c", "admin": "tok-admin"}
TOKEN_OF = {GLN_A: "a", GLN_B: "b", GLN_C: "c"}
FAST_DELIVERY = {"backoff_base_seconds": 0.1, "backoff_max_seconds": 0.5, "poll_interval_seconds": 0.2}


def post_as_a(service: Service, body: bytes, *, timeout: float) -> Reply:
    """POST a FHIR JSON message to `service` with partner A's token (the sender of the test world)."""
    return request(
        f"{service.base_url}/api/v1/messages",
        "POST",
        body,
        token=TOKENS["a"],
        headers={"Content-Type": "application/fhir+json"},
        timeout=timeout,
    )


def validator_call(url: str, path: str, body: bytes, content_type: str, accept: str | None = None) -> bytes:
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
    req = urllib.request.Request(f"{url}{path}", data=body, headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=120) as resp:
        return bytes(resp.read())


def bare_errors(url: str, standard: str, body: bytes, media_type: str) -> list[dict[str, Any]]:
    """The reference validator's own error issues for `body` (no edigate in between)."""
    outcome = json.loads(validator_call(url, f"/validate?standard={standard}", body, media_type))
    return [i for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


def to_xml(url: str, json_body: bytes) -> bytes:
    """The same message in FHIR XML, converted by the validator's HAPI (not by edigate)."""
    return validator_call(url, "/convert", json_body, "application/fhir+json", "application/fhir+xml")


@dataclass
class FhirWorld:
    service: Service
    rx_a: Receiver
    rx_b: Receiver
    validator_url: str

    def post(self, body: bytes, sender: str, content_type: str = "application/fhir+json") -> Reply:
        return request(
            f"{self.service.base_url}/api/v1/messages",
            "POST",
            body,
            token=TOKENS[TOKEN_OF.get(sender, sender)],
            headers={"Content-Type": content_type},
            timeout=120,
        )

    def get(self, path: str) -> Reply:
        return request(f"{self.service.base_url}{path}", "GET", token=TOKENS["admin"])


def world_config(storage_url: str, validator_url: str, rx_a: Receiver, rx_b: Receiver) -> str:
    mailbox = cfg.MAILBOX_DELIVERY
    return "".join(
        [
            cfg.base(storage_url, "test admin", TOKENS["admin"]),
            cfg.table("delivery", FAST_DELIVERY),
            cfg.table("fhir", {"validator_url": validator_url, "timeout_seconds": 60}),
            cfg.partner(GLN_A, "Eksempelsygehus A", "hospital", "Fyn", cfg.http_delivery(rx_a.url), token=TOKENS["a"]),
            cfg.partner(
                GLN_B, "Eksempelkommune B", "municipality", "Fyn", cfg.http_delivery(rx_b.url), token=TOKENS["b"]
            ),
            cfg.partner(GLN_C, "Tredjekommune C", "municipality", "Fyn", mailbox, token=TOKENS["c"]),
            cfg.partner(GLN_PICKY, "Kræsen Kommune", "municipality", "Fyn", mailbox, accepts=["XDIS91"]),
        ]
    )


@pytest.fixture
def fhir_world(storage_url: str, fhir_validator_url: str, tmp_path: Path) -> Iterator[FhirWorld]:
    rx_a, rx_b = Receiver().start(), Receiver().start()
    fleet = Fleet()
    try:
        service = make_service(world_config(storage_url, fhir_validator_url, rx_a, rx_b), tmp_path)
        fleet.start(service)
        yield FhirWorld(service, rx_a, rx_b, fhir_validator_url)
    finally:
        fleet.stop()
        rx_a.stop()
        rx_b.stop()
