"""`edigate validate` on FHIR files (JSON and XML, recognised by content) beside MedCom XML: the issues
printed, `--json` carries the OperationOutcome, exit codes 0 valid / 1 invalid / 2 unavailable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.fhir import FHIR_PACKAGES, REPO, example_named
from tests.integration.fhir.test_validator import CARE, NOTIFICATION, convert

OIOXML = REPO.parent / "shared" / "medcom" / "examples" / "DIS91_1.xml"


def edigate_validate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("EDIGATE_FHIR__")}
    return subprocess.run(
        [sys.executable, "-m", "edigate", "validate", *args],
        cwd=REPO,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=280,
    )


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_valid_json_and_xml_and_oioxml(tmp_path: Path, fhir_validator_url: str) -> None:
    care = example_named(CARE)
    files = [
        write(tmp_path / "care.json", care.body),
        write(tmp_path / "care.xml", convert(fhir_validator_url, care.body, "application/fhir+xml")),
    ]
    if OIOXML.is_file():
        files.append(str(OIOXML))
    done = edigate_validate("--fhir-validator-url", fhir_validator_url, *files)
    assert done.returncode == 0, done.stdout + done.stderr
    bundle_id = care.bundle["id"]
    assert f"care.json: valid CareCommunication (FHIR) bundle {bundle_id}" in done.stdout
    assert f"care.xml: valid CareCommunication (FHIR) bundle {bundle_id}" in done.stdout


def test_invalid_prints_the_issue_and_exits_1(tmp_path: Path, fhir_validator_url: str) -> None:
    bundle = example_named(NOTIFICATION).bundle
    del bundle["entry"][0]["resource"]["destination"]
    path = write(tmp_path / "broken.json", json.dumps(bundle).encode())
    done = edigate_validate(path, env={"EDIGATE_FHIR__VALIDATOR_URL": fhir_validator_url})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "broken.json: INVALID HospitalNotification" in done.stdout
    assert "error: MessageHeader.destination: minimum required = 1" in done.stdout
    assert "[Bundle.entry[0].resource/*MessageHeader/" in done.stdout


def test_json_output_carries_the_operation_outcome(tmp_path: Path, fhir_validator_url: str) -> None:
    bundle = example_named(CARE).bundle
    bundle["type"] = "collection"
    path = write(tmp_path / "fixed.json", json.dumps(bundle).encode())
    done = edigate_validate("--json", "--fhir-validator-url", fhir_validator_url, path)
    assert done.returncode == 1, done.stderr
    [obj] = json.loads(done.stdout)
    assert (obj["format"], obj["type"], obj["valid"]) == ("fhir", "CareCommunication", False)
    assert obj["message_header_id"] == bundle["entry"][0]["resource"]["id"]
    outcome = obj["operation_outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(i["expression"] == ["Bundle.type"] and i["code"] == "value" for i in outcome["issue"])


def test_unavailable_validator_exits_2_with_the_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "care.json", example_named(CARE).body)
    done = edigate_validate(
        "--fhir-packages", str(FHIR_PACKAGES), path, env={"EDIGATE_FHIR__JAVA": "/nonexistent/java"}
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "NOT VALIDATED CareCommunication" in done.stdout
    assert "Java not found" in done.stderr


def test_another_event_is_invalid_not_unavailable(tmp_path: Path) -> None:
    bundle = example_named(CARE).bundle
    bundle["entry"][0]["resource"]["eventCoding"]["code"] = "empty-message"
    path = write(tmp_path / "empty.json", json.dumps(bundle).encode())
    done = edigate_validate(path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "empty-message is not a standard edigate takes" in done.stdout


@pytest.mark.parametrize(("option", "message"), [(("--fhir-validator-url", "localhost:1"), "fhir.validator_url")])
def test_bad_option_is_a_config_error(tmp_path: Path, option: tuple[str, str], message: str) -> None:
    path = write(tmp_path / "care.json", example_named(CARE).body)
    done = edigate_validate(*option, path)
    assert done.returncode == 2
    assert message in done.stderr
