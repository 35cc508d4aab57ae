"""MedCom FHIR messages through the running service, judged by the real HL7 reference validator.

Every verdict is the validator's: the tests ask the bare validator first and check that edigate passed
its verdict through (accepted and delivered once, or refused with the validator's own issues).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.fhir.conftest import GLN_C, GLN_PICKY, FhirWorld, bare_errors, to_xml
from tests.unit.fhir.examples import (
    ACK_OK,
    CARE,
    GLN_A,
    GLN_B,
    HOSPITAL_NOTIFICATION,
    answering,
    cprs,
    dump,
    example,
    header,
    new_message,
    resend,
    shared_examples,
    with_gln,
)

PACKAGES = Path(__file__).resolve().parents[3].parent / "shared" / "medcom" / "fhir-packages"


def all_example_bundles() -> list[tuple[str, dict[str, Any]]]:
    """Every example Bundle of type message in ../shared/medcom/fhir-examples and in the packages'
    package/example folders, once per Bundle.id."""
    import tarfile

    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(shared_examples().glob("*/Bundle-*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        found.setdefault(doc["id"], (f"fhir-examples/{path.parent.name}/{path.name}", doc))
    for tgz in sorted(PACKAGES.glob("*.tgz")):
        with tarfile.open(tgz) as tar:
            for member in tar.getmembers():
                if member.name.startswith("package/example/Bundle-") and member.name.endswith(".json"):
                    raw = tar.extractfile(member)
                    assert raw is not None
                    doc = json.loads(raw.read())
                    if doc.get("type") == "message":
                        found.setdefault(doc["id"], (f"{tgz.name}:{member.name}", doc))
    return sorted(found.values(), key=lambda x: x[0])


def standard_of(doc: dict[str, Any]) -> str | None:
    code = header(doc).get("eventCoding", {}).get("code")
    return {
        "care-communication-message": "CareCommunication",
        "hospital-notification-message": "HospitalNotification",
        "acknowledgement-message": "Acknowledgement",
    }.get(code)


def gln_at(doc: dict[str, Any], reference: str) -> str:
    ref = reference.rsplit("/", 1)[-1]
    org = next(e["resource"] for e in doc["entry"] if e["resource"].get("id") == ref)
    return next(i["value"] for i in org["identifier"] if i["system"] == "https://www.gs1.org/gln")  # type: ignore[no-any-return]


def sender_of(doc: dict[str, Any]) -> str:
    return gln_at(doc, header(doc)["sender"]["reference"])


def receiver_of(doc: dict[str, Any]) -> str:
    return gln_at(doc, header(doc)["destination"][0]["receiver"]["reference"])


def ack_issues(ack: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        i for e in ack["entry"] if e["resource"]["resourceType"] == "OperationOutcome" for i in e["resource"]["issue"]
    ]


def test_every_example_bundle_goes_through_as_the_validator_says(fhir_world: FhirWorld) -> None:
    w = fhir_world
    seen_headers: set[tuple[str, str]] = set()
    delivered_expected = {GLN_A: 0, GLN_B: 0}
    checked = 0
    for name, doc in all_example_bundles():
        standard = standard_of(doc)
        sender = sender_of(doc)
        key = (sender, header(doc)["id"])
        if key in seen_headers:
            doc = new_message(doc)  # another example reuses this MessageHeader.id: make it a message of its own
            key = (sender, header(doc)["id"])
        seen_headers.add(key)
        reply = w.post(dump(doc), sender)
        if standard is None:  # MedCom's messaging base example (empty-message): not a standard edigate takes
            assert reply.status == 422, (name, reply)
            assert b"fatal-error" in reply.raw
            delivered_expected[sender] += 1  # its fatal-error Acknowledgement goes to the sender
            continue
        errors = bare_errors(w.validator_url, standard, dump(doc), "application/fhir+json")
        if errors:
            print(f"{name}: the reference validator refuses it: {[e['diagnostics'][:120] for e in errors[:3]]}")
            assert reply.status == 422, (name, errors[:3], reply)
            if standard != "Acknowledgement":
                delivered_expected[sender] += 1  # its fatal-error Acknowledgement goes to the sender
            continue
        assert reply.status == 202, (name, reply)
        assert reply.body["type"] == standard and reply.body["bundle_id"] == doc["id"]
        delivered_expected[receiver_of(doc)] += 1
        checked += 1
    assert checked >= 20  # MedCom ships 8 CareCommunication, 12 HospitalNotification and 3 Acknowledgement
    for rx, gln in ((w.rx_a, GLN_A), (w.rx_b, GLN_B)):
        bodies = rx.wait_for(delivered_expected[gln], timeout=60)
        assert len(bodies) == delivered_expected[gln]  # delivered once each
    assert all(r.headers["Content-Type"].startswith("application/fhir+json") for r in w.rx_b.received)


def test_acknowledgement_from_the_receiver_is_correlated_and_delivered(fhir_world: FhirWorld) -> None:
    w = fhir_world
    doc = example(CARE)
    original = w.post(dump(doc), GLN_A)
    assert original.status == 202, original
    w.rx_b.wait_for(1)
    ack = answering(example(ACK_OK), doc)
    reply = w.post(dump(ack), GLN_B)
    assert reply.status == 202 and reply.body["type"] == "Acknowledgement", reply
    shown = w.get(f"/api/v1/messages/{original.body['id']}")
    assert shown.body["state"] == "acknowledged" and shown.body["receipt_id"] == reply.body["id"]
    assert w.rx_a.wait_for(1) == [dump(ack)]
    found = w.get(f"/api/v1/messages?message_header_id={header(doc)['id']}")
    assert [m["id"] for m in found.body["messages"]] == [original.body["id"]]
    found = w.get(f"/api/v1/messages?bundle_id={doc['id']}")
    assert [m["id"] for m in found.body["messages"]] == [original.body["id"]]


def mutants() -> list[tuple[str, Any]]:
    def drop_cpr(d: dict[str, Any]) -> None:
        for e in d["entry"]:
            if e["resource"]["resourceType"] == "Patient":
                e["resource"].pop("identifier", None)

    def wrong_event(d: dict[str, Any]) -> None:
        header(d)["eventCoding"]["code"] = "hospital-notification-message"

    def wrong_fixed_value(d: dict[str, Any]) -> None:
        header(d)["destination"][0]["extension"][0]["valueCoding"]["code"] = "cc"

    def dangling_reference(d: dict[str, Any]) -> None:
        header(d)["focus"] = [{"reference": "Communication/findes-ikke"}]

    def no_provenance(d: dict[str, Any]) -> None:
        d["entry"] = [e for e in d["entry"] if e["resource"]["resourceType"] != "Provenance"]

    def no_timestamp(d: dict[str, Any]) -> None:
        d.pop("timestamp", None)

    return [
        ("a Patient without CPR", drop_cpr),
        ("wrong event code", wrong_event),
        ("wrong fixed value", wrong_fixed_value),
        ("a reference that does not resolve in the Bundle", dangling_reference),
        ("no Provenance (invariant medcom-messaging-2)", no_provenance),
        ("mandatory Bundle.timestamp removed", no_timestamp),
    ]


@pytest.mark.parametrize(("what", "mutate"), mutants(), ids=[m[0] for m in mutants()])
def test_mutants_are_refused_with_the_validators_own_issues(fhir_world: FhirWorld, what: str, mutate: Any) -> None:
    w = fhir_world
    doc = new_message(example(CARE))
    mutate(doc)
    errors = bare_errors(w.validator_url, "CareCommunication", dump(doc), "application/fhir+json")
    assert errors, f"the reference validator accepts the mutant '{what}': the mutant tests nothing"
    reply = w.post(dump(doc), GLN_A)
    assert reply.status == 422, reply
    assert reply.headers["Content-Type"].startswith("application/fhir+json")
    ack = json.loads(reply.raw)
    assert header(ack)["response"] == {
        **header(ack)["response"],
        "code": "fatal-error",
        "identifier": header(doc)["id"],
    }
    got = [(i["severity"], i["code"], i["diagnostics"], i.get("expression")) for i in ack_issues(ack)]
    want = [(i["severity"], i["code"], i["diagnostics"], i.get("expression") or i.get("location")) for i in errors]
    for cpr in cprs(example(CARE)):
        want = [(s, c, d.replace(cpr, "(cpr fjernet)"), e) for s, c, d, e in want]
    assert got == want  # every error, with its FHIRPath, as the validator gave it
    assert w.rx_b.bodies() == []
    # the Acknowledgement edigate made passes the validator itself
    assert bare_errors(w.validator_url, "Acknowledgement", reply.raw, "application/fhir+json") == []
    w.rx_a.wait_for(1)  # and it was queued to the sender
    assert w.rx_a.bodies() == [reply.raw]


def test_duplicates_negative_duplicates_and_a_reused_bundle_id(fhir_world: FhirWorld) -> None:
    w = fhir_world
    doc = new_message(example(CARE))
    first = w.post(dump(doc), GLN_A)
    assert first.status == 202
    again = w.post(dump(resend(doc)), GLN_A)
    assert again.status == 200 and again.body["duplicate"] is True and again.body["id"] == first.body["id"]
    reused = new_message(example(CARE))
    reused["id"] = doc["id"]
    refused = w.post(dump(reused), GLN_A)
    assert refused.status == 422
    ack = json.loads(refused.raw)
    assert header(ack)["response"]["code"] == "fatal-error" and "Bundle.id" in ack_issues(ack)[0]["diagnostics"]
    assert bare_errors(w.validator_url, "Acknowledgement", refused.raw, "application/fhir+json") == []

    bad = new_message(example(CARE))
    bad.pop("timestamp")
    negative = w.post(dump(bad), GLN_A)
    assert negative.status == 422
    negative_again = w.post(dump(resend(bad)), GLN_A)
    assert negative_again.status == 422 and negative_again.raw == negative.raw  # the identical Acknowledgement
    assert w.rx_b.wait_for(1) == [dump(doc)]  # the duplicate never reached the receiver


def test_acknowledgement_from_the_wrong_party_changes_nothing(fhir_world: FhirWorld) -> None:
    w = fhir_world
    doc = new_message(example(CARE))
    original = w.post(dump(doc), GLN_A)
    forged = with_gln(answering(example(ACK_OK), doc), GLN_B, GLN_C)
    reply = w.post(dump(forged), GLN_C)
    assert reply.status in (403, 422), reply
    assert w.get(f"/api/v1/messages/{original.body['id']}").body["state"] in ("accepted", "delivered")


def test_xml_and_json_of_the_same_message(fhir_world: FhirWorld) -> None:
    w = fhir_world
    doc = new_message(example(HOSPITAL_NOTIFICATION))
    xml = to_xml(w.validator_url, dump(doc))
    first = w.post(xml, GLN_A, "application/fhir+xml")
    assert first.status == 202, first
    assert first.body["type"] == "HospitalNotification" and first.body["message_header_id"] == header(doc)["id"]
    again = w.post(dump(resend(doc)), GLN_A)  # the same message, now as JSON: a duplicate
    assert again.status == 200 and again.body["id"] == first.body["id"]
    (got,) = w.rx_b.wait_for(1)
    assert got == xml and w.rx_b.received[0].headers["Content-Type"].startswith("application/fhir+xml")
    # an invalid XML message is answered with an XML Acknowledgement that passes the validator
    bad = new_message(example(HOSPITAL_NOTIFICATION))
    bad.pop("timestamp")
    reply = w.post(to_xml(w.validator_url, dump(bad)), GLN_A, "application/fhir+xml")
    assert reply.status == 422 and reply.headers["Content-Type"].startswith("application/fhir+xml")
    assert reply.raw.lstrip().startswith(b"<?xml") or reply.raw.lstrip().startswith(b"<Bundle")
    assert bare_errors(w.validator_url, "Acknowledgement", reply.raw, "application/fhir+xml") == []


def test_receiver_that_takes_only_xdis91(fhir_world: FhirWorld) -> None:
    w = fhir_world
    doc = with_gln(new_message(example(CARE)), GLN_B, GLN_PICKY)
    reply = w.post(dump(doc), GLN_A)
    assert reply.status == 422, reply
    ack = json.loads(reply.raw)
    assert ack_issues(ack)[0]["diagnostics"] == "modtageren kan ikke modtage CareCommunication"
    assert bare_errors(w.validator_url, "Acknowledgement", reply.raw, "application/fhir+json") == []


def test_no_cpr_leaves_the_service(fhir_world: FhirWorld) -> None:
    w = fhir_world
    doc = new_message(example(CARE))
    doc.pop("timestamp")
    reply = w.post(dump(doc), GLN_A)
    assert reply.status == 422
    listing = w.get("/api/v1/messages")
    log = w.service.log_path.read_text(encoding="utf-8", errors="replace")
    for cpr in cprs(doc):
        for text in (reply.raw.decode(), json.dumps(listing.body), log):
            assert cpr not in text and cpr[:6] + "-" + cpr[6:] not in text
