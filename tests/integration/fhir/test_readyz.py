"""/readyz reports FHIR validation as a component: available, or unavailable and why. It never makes the
service unready: OIOXML keeps flowing while the FHIR validator is missing or down. The real service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, MUNICIPALITY
from tests.harness.fhir import FHIR_PACKAGES
from tests.harness.http import Reply, request
from tests.harness.service import Fleet, Service, make_service
from tests.harness.wait import wait_until
from tests.unit.medcom.samples import xdis91_message

HOSPITAL_TOKEN = "tok-fhir-hospital"


def world_config(tmp_path: Path, fhir: dict[str, Any]) -> str:
    return "".join(
        [
            cfg.base(cfg.sqlite_url(tmp_path / "edigate.db"), "admin", "tok-fhir-admin"),
            cfg.partner(HOSPITAL, "Testsygehus", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=HOSPITAL_TOKEN),
            cfg.partner(MUNICIPALITY, "Testkommune", "municipality", "Fyn", cfg.MAILBOX_DELIVERY),
            cfg.fhir(**fhir),
        ]
    )


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    fleet = Fleet()
    try:
        yield fleet
    finally:
        fleet.stop()


def readyz(service: Service) -> Reply:
    return request(service.base_url + "/readyz", "GET")


def test_java_absent_service_ready_oioxml_flows_fhir_unavailable(tmp_path: Path, fleet: Fleet) -> None:
    config = world_config(tmp_path, {"package_dir": str(FHIR_PACKAGES), "java": "/nonexistent/bin/java"})
    service = fleet.start(make_service(config, tmp_path))
    reply = readyz(service)
    assert reply.status == 200, reply
    assert reply.body["status"] == "ready"
    assert reply.body["components"]["fhir_validation"] == "unavailable"
    assert reply.body["fhir_validation"]["available"] is False
    assert "Java not found" in reply.body["fhir_validation"]["reason"]
    posted = request(
        service.base_url + "/api/v1/messages",
        "POST",
        xdis91_message(envelope_id="ENVFHIRJAVA01", letter_id="LETFHIRJAVA01"),
        token=HOSPITAL_TOKEN,
        headers={"Content-Type": "application/xml"},
    )
    assert posted.status == 202, posted


def test_not_configured_is_reported(tmp_path: Path, fleet: Fleet) -> None:
    config = world_config(tmp_path, {"enabled": False})
    service = fleet.start(make_service(config, tmp_path))
    reply = readyz(service)
    assert reply.status == 200, reply
    assert reply.body["fhir_validation"] == {
        "available": False,
        "reason": "FHIR validation is switched off ([fhir] enabled = false)",
    }


def test_external_validator_is_available(tmp_path: Path, fleet: Fleet, fhir_validator_url: str) -> None:
    service = fleet.start(make_service(world_config(tmp_path, {"validator_url": fhir_validator_url}), tmp_path))
    wait_until(
        lambda: readyz(service).body["fhir_validation"]["available"],
        30,
        lambda: f"FHIR validation never became available: {readyz(service)!r}",
    )
    reply = readyz(service)
    assert reply.body["components"]["fhir_validation"] == "ok"
    assert reply.body["fhir_validation"]["reason"] == "ok"
