"""The FHIR validator (HAPI FHIR's validation in validator/) through edigate's client, on MedCom's examples.

The verdict is the HL7 reference validator's; these tests check that every official example passes with
no error, that mutants of them fail at the path the mutation touched, and that edigate carries the
OperationOutcome back faithfully (severity, IssueType code, FHIRPath expression).
"""

from __future__ import annotations

import copy
import http.client
import json
import statistics
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from edigate.fhir.standards import ACKNOWLEDGEMENT, STANDARDS
from edigate.fhir.validation import FhirValidationResult, HttpFhirValidator
from tests.harness.fhir import FhirExample, example_named, fhir_examples

EXAMPLES = fhir_examples()
JSON = "application/fhir+json"


async def validate(
    url: str, standard: str, body: bytes | dict[str, Any], media_type: str = JSON
) -> FhirValidationResult:
    if isinstance(body, dict):
        body = json.dumps(body).encode()
    client = HttpFhirValidator(url, timeout_seconds=120)
    try:
        return await client.validate(standard, body, media_type)
    finally:
        await client.stop()


def describe(result: FhirValidationResult) -> str:
    return "\n".join(f"{i.severity} {i.code} {i.expression}: {i.diagnostics}" for i in result.errors)


def test_examples_are_found() -> None:
    if not EXAMPLES:
        pytest.skip("no MedCom FHIR examples under ../shared/medcom (fhir-examples or fhir-packages)")
    standards = {e.standard for e in EXAMPLES}
    assert {"CareCommunication", "HospitalNotification", "Acknowledgement"} <= standards


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.standard is not None], ids=lambda e: e.source)
async def test_every_official_example_is_valid(fhir_validator_url: str, example: FhirExample) -> None:
    assert example.standard is not None
    result = await validate(fhir_validator_url, example.standard, example.body)
    assert result.valid, describe(result)
    assert all(i.severity in ("warning", "information") for i in result.issues)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.standard is None], ids=lambda e: e.source)
async def test_an_example_of_another_event_is_not_an_acknowledgement(
    fhir_validator_url: str, example: FhirExample
) -> None:
    """The Acknowledgement package also ships an `empty-message` Bundle (MedCom's generic message profile,
    not an Acknowledgement): validated as an Acknowledgement it fails the Acknowledgement invariants. edigate
    identifies the standard from eventCoding and never offers such a message as an Acknowledgement."""
    assert example.event_code == "empty-message"
    result = await validate(fhir_validator_url, ACKNOWLEDGEMENT.name, example.body)
    assert not result.valid
    assert any("medcom-acknowledgement-2" in i.diagnostics for i in result.errors), describe(result)


# ------------------------------------------------------------------------------------------------ mutants

CARE = "fhir-examples/carecommunication/Bundle-0d5b3c18"
NOTIFICATION = "fhir-examples/hospitalnotification/Bundle-a5e5b880"
ACK = "fhir-examples/acknowledgement/Bundle-a8c041b8"


def entry(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def index_of(bundle: dict[str, Any], resource_type: str) -> int:
    return next(i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == resource_type)


def mutant(fragment: str) -> dict[str, Any]:
    return copy.deepcopy(example_named(fragment).bundle)


def errors_at(result: FhirValidationResult, path_fragment: str) -> list[str]:
    return [i.diagnostics for i in result.errors if any(path_fragment in e for e in i.expression)]


@pytest.mark.parametrize(
    ("standard", "fragment"), [("CareCommunication", CARE), ("HospitalNotification", NOTIFICATION)]
)
async def test_removing_a_mandatory_element_names_it(fhir_validator_url: str, standard: str, fragment: str) -> None:
    bundle = mutant(fragment)
    del bundle["entry"][0]["resource"]["destination"]
    result = await validate(fhir_validator_url, standard, bundle)
    found = errors_at(result, "Bundle.entry[0].resource/*MessageHeader/")
    assert any("MessageHeader.destination: minimum required = 1" in d for d in found), describe(result)
    assert any(i.code == "structure" for i in result.errors)


async def test_communication_without_payload(fhir_validator_url: str) -> None:
    bundle = mutant(CARE)
    del entry(bundle, "Communication")["payload"]
    result = await validate(fhir_validator_url, "CareCommunication", bundle)
    n = index_of(bundle, "Communication")
    found = errors_at(result, f"Bundle.entry[{n}].resource/*Communication/")
    assert any("Communication.payload: minimum required = 1" in d for d in found), describe(result)


@pytest.mark.parametrize(
    ("standard", "fragment", "wrong"),
    [
        ("CareCommunication", CARE, "hospital-notification-message"),
        ("HospitalNotification", NOTIFICATION, "care-communication-message"),
    ],
)
async def test_wrong_event_code(fhir_validator_url: str, standard: str, fragment: str, wrong: str) -> None:
    """(The Acknowledgement 2.0.3 header profile does not fix the event code: an Acknowledgement with
    another event code is that other standard's message to edigate, which picks the standard from it.)"""
    bundle = mutant(fragment)
    bundle["entry"][0]["resource"]["eventCoding"]["code"] = wrong
    result = await validate(fhir_validator_url, standard, bundle)
    assert not result.valid
    found = [i for i in result.errors if any("MessageHeader" in e and "code" in e for e in i.expression)]
    assert found and all(i.code == "value" for i in found), describe(result)
    assert any(f"Value is '{wrong}'" in i.diagnostics for i in found)


async def test_wrong_fixed_value(fhir_validator_url: str) -> None:
    bundle = mutant(CARE)
    bundle["type"] = "collection"
    result = await validate(fhir_validator_url, "CareCommunication", bundle)
    fixed = [i for i in result.errors if i.expression == ("Bundle.type",)]
    assert fixed and fixed[0].code == "value", describe(result)
    assert "fixed to 'message'" in fixed[0].diagnostics


@pytest.mark.parametrize(
    ("standard", "fragment"), [("CareCommunication", CARE), ("HospitalNotification", NOTIFICATION)]
)
async def test_patient_without_cpr(fhir_validator_url: str, standard: str, fragment: str) -> None:
    bundle = mutant(fragment)
    patient = entry(bundle, "Patient")
    patient.pop("identifier")
    result = await validate(fhir_validator_url, standard, bundle)
    n = index_of(bundle, "Patient")
    found = errors_at(result, f"Bundle.entry[{n}].resource/*Patient/")
    assert any("Patient.identifier: minimum required = 1" in d for d in found), describe(result)


async def test_patient_with_a_non_cpr_identifier(fhir_validator_url: str) -> None:
    """HospitalNotification invariant medcom-hospitalNotification-4: the identifier must be a CPR number."""
    bundle = mutant(NOTIFICATION)
    entry(bundle, "Patient")["identifier"][0]["system"] = "urn:oid:1.2.208.176.1.99"
    result = await validate(fhir_validator_url, "HospitalNotification", bundle)
    assert any("medcom-hospitalNotification-4" in i.diagnostics for i in result.errors), describe(result)


@pytest.mark.parametrize(
    ("standard", "fragment"), [("CareCommunication", CARE), ("HospitalNotification", NOTIFICATION)]
)
async def test_unresolvable_reference(fhir_validator_url: str, standard: str, fragment: str) -> None:
    bundle = mutant(fragment)
    focus = bundle["entry"][0]["resource"]["focus"][0]
    focus["reference"] = focus["reference"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    result = await validate(fhir_validator_url, standard, bundle)
    found = errors_at(result, "Bundle.entry[0].resource/*MessageHeader/")
    assert any("reference not found within the bundle" in d for d in found), describe(result)
    assert any(e.endswith(".focus[0]") for i in result.errors for e in i.expression)


async def test_cpr_never_comes_back_in_diagnostics(fhir_validator_url: str) -> None:
    """A CPR number in a place where the validator quotes the value is scrubbed by the client."""
    bundle = mutant(CARE)
    bundle["type"] = "0101011234"
    result = await validate(fhir_validator_url, "CareCommunication", bundle)
    assert not result.valid
    text = json.dumps(result.operation_outcome())
    assert "0101011234" not in text
    assert "(cpr fjernet)" in text


# ------------------------------------------------------------------------------------------------ formats


def convert(url: str, body: bytes, to: str) -> bytes:
    """XML (or JSON) of the same resource, encoded by HAPI's own parsers (the validator's /convert)."""
    source = "application/fhir+xml" if body.lstrip().startswith(b"<") else JSON
    request = urllib.request.Request(
        f"{url}/convert", data=body, headers={"Content-Type": source, "Accept": to}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=120) as resp:
        return bytes(resp.read())


@pytest.mark.parametrize("fragment", [CARE, NOTIFICATION, ACK])
async def test_xml_of_an_example_is_valid_too(fhir_validator_url: str, fragment: str) -> None:
    example = example_named(fragment)
    xml = convert(fhir_validator_url, example.body, "application/fhir+xml")
    assert xml.lstrip().startswith(b'<Bundle xmlns="http://hl7.org/fhir"')
    assert example.standard is not None
    result = await validate(fhir_validator_url, example.standard, xml, "application/fhir+xml")
    assert result.valid, describe(result)


async def test_xml_mutant_names_the_same_path(fhir_validator_url: str) -> None:
    bundle = mutant(CARE)
    bundle["type"] = "collection"
    xml = convert(fhir_validator_url, json.dumps(bundle).encode(), "application/fhir+xml")
    result = await validate(fhir_validator_url, "CareCommunication", xml, "application/fhir+xml")
    assert any(i.expression == ("Bundle.type",) and i.code == "value" for i in result.errors), describe(result)


async def test_xml_with_a_doctype_is_refused(fhir_validator_url: str) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Bundle xmlns="http://hl7.org/fhir"/>'
    result = await validate(fhir_validator_url, "CareCommunication", body, "application/fhir+xml")
    assert [i.severity for i in result.errors] == ["fatal"]
    assert "DOCTYPE" in result.errors[0].diagnostics


@pytest.mark.parametrize(
    ("body", "media_type"),
    [(b"", JSON), (b"<Bundle/>", JSON), (b'{"resourceType": "Bundle", ', JSON), (b"{}", "application/fhir+xml")],
)
async def test_broken_bodies_are_fatal_not_crashes(fhir_validator_url: str, body: bytes, media_type: str) -> None:
    result = await validate(fhir_validator_url, "CareCommunication", body, media_type)
    assert not result.valid
    assert any(i.severity == "fatal" for i in result.issues)


async def test_deep_nesting_is_an_answer(fhir_validator_url: str) -> None:
    body = b'{"resourceType": "Bundle", "type": "message", "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    result = await validate(fhir_validator_url, "CareCommunication", body)
    assert not result.valid


# ------------------------------------------------------------------------------------------------ the API


def test_unknown_standard_is_400(fhir_validator_url: str) -> None:
    request = urllib.request.Request(
        f"{fhir_validator_url}/validate?standard=XDIS91", data=b"{}", headers={"Content-Type": JSON}, method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 400
    assert "unknown standard 'XDIS91'" in info.value.read().decode()


async def test_unknown_standard_in_the_client(fhir_validator_url: str) -> None:
    with pytest.raises(ValueError, match="unknown FHIR standard"):
        await validate(fhir_validator_url, "XDIS91", b"{}")


def test_health_lists_each_standards_own_closure(fhir_validator_url: str) -> None:
    with urllib.request.urlopen(f"{fhir_validator_url}/health", timeout=30) as resp:
        health = json.load(resp)
    assert health["status"] == "ok"
    assert health["hapi_fhir"].startswith("8.")
    for standard in STANDARDS:
        loaded = health["standards"][standard.name]
        assert loaded["profile"] == standard.bundle_profile
        assert [(p["id"], p["version"]) for p in loaded["closure"]] == [(p.id, p.version) for p in standard.closure]
        assert {p["id"] for p in loaded["skipped"]} >= {"hl7.fhir.r4.core"}


def test_answers_a_kept_alive_connection_without_waiting_for_a_delayed_ack(fhir_validator_url: str) -> None:
    """edigate keeps one connection per validation slot open; each answer must come as soon as it is made.
    With Nagle's algorithm on in the JVM's HTTP server, every answer waited ~40 ms for the client's delayed
    ACK of its headers (half of the throughput edigate got from the validator on two cores)."""
    host, port = fhir_validator_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    times = []
    try:
        for _ in range(25):
            t0 = time.monotonic()
            conn.request("GET", "/health")
            reply = conn.getresponse()
            reply.read()
            assert reply.status == 200
            times.append(time.monotonic() - t0)
    finally:
        conn.close()
    assert statistics.median(times) < 0.025, f"round trips on one connection: median {statistics.median(times):.3f} s"
