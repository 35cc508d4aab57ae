"""The FHIR format adapter in the real ingest pipeline and the real store (SQLite and PostgreSQL).

The reference validator is replaced here by a stand-in that returns the verdict a test sets (the
integration tests in tests/integration/fhir use the real one): these tests check what edigate does with a
verdict, never the verdict itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from edigate.clock import system_clock
from edigate.fhir.adapter import FhirAdapter
from edigate.fhir.validation import FhirIssue, FhirValidationResult, FhirValidatorBusy, FhirValidatorUnavailable
from edigate.ingest.model import Answer, IngestRequest
from edigate.ingest.oioxml import OioxmlAdapter
from edigate.ingest.pipeline import IngestPipeline
from edigate.ingest.services import IngestServices
from edigate.medcom import Validator
from edigate.routing import PartnerDirectory, token_sha256
from edigate.settings import parse_settings
from edigate.store.crypto import BodyKeyring
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.schema import messages
from tests.unit.fhir.examples import (
    ACK_FATAL,
    ACK_OK,
    CARE,
    GLN_A,
    GLN_B,
    answering,
    cprs,
    dump,
    example,
    header,
    new_message,
    resend,
    with_gln,
)

GLN_C = "5790000198764"  # a third partner (valid GS1 check digit)


@dataclass
class StandInValidator:
    """Returns `issues[MessageHeader.id]` (default: no issue); unavailable when `down` says why."""

    issues: dict[str, tuple[FhirIssue, ...]] = field(default_factory=dict)
    down: str | None = None
    busy: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def validate(self, standard: str, body: bytes, media_type: str) -> FhirValidationResult:
        self.calls.append((standard, media_type))
        if self.down:
            raise FhirValidatorUnavailable(self.down)
        if self.busy:
            raise FhirValidatorBusy("the FHIR validator is busy (queue_depth 0)")
        for mh_id, found in self.issues.items():
            if mh_id.encode() in body:
                return FhirValidationResult(found)
        return FhirValidationResult(())

    def status(self) -> tuple[bool, str]:
        return (self.down is None, self.down or "ok")


@dataclass
class World:
    pipeline: IngestPipeline
    store: MessageStore
    validator: StandInValidator

    async def post(self, body: bytes, *, token: str = "a", content_type: str = "application/fhir+json") -> Answer:
        async def read() -> bytes:
            return body

        return await self.pipeline.run(IngestRequest(token, content_type, len(body), read))

    async def message(self, mid: int) -> dict[str, Any]:
        shown = await self.store.get(mid)
        assert shown is not None
        return shown

    async def sent_to(self, gln: str) -> list[bytes]:
        return [m.body for m in await self.store.next_messages(gln, 100)]


def partners(accepts_b: Iterable[str] | None = None) -> list[dict[str, Any]]:
    b: dict[str, Any] = {"ean": GLN_B, "name": "B", "kind": "municipality", "tokens_sha256": [token_sha256("b")]}
    if accepts_b is not None:
        b["accepts"] = list(accepts_b)
    return [
        {"ean": GLN_A, "name": "A", "kind": "hospital", "tokens_sha256": [token_sha256("a")]},
        b,
        {"ean": GLN_C, "name": "C", "kind": "municipality", "tokens_sha256": [token_sha256("c")]},
    ]


async def make_world(
    storage_url: str, accepts_b: Iterable[str] | None = None, keyring: BodyKeyring | None = None
) -> tuple[World, Database]:
    settings = parse_settings({"partners": partners(accepts_b)})
    db = Database.open(storage_url)
    store = MessageStore(db, system_clock, keyring=keyring)
    await store.start()
    validator = StandInValidator()
    fhir = FhirAdapter(lambda: validator, system_clock, max_bytes=5 * 1024 * 1024, observe_validation=lambda *_: None)
    oioxml = OioxmlAdapter(Validator(), lambda: None, gateway_ean=None, observe_validation=lambda *_: None)  # type: ignore[arg-type,return-value]
    services = IngestServices(
        directory=PartnerDirectory(settings),
        store=store,
        clock=system_clock,
        adapters=(oioxml, fhir),
        max_body_bytes=5 * 1024 * 1024,
        wake=lambda _: None,
        observe_received=lambda *_: None,
    )
    return World(IngestPipeline(services), store, validator), db


@pytest.fixture
async def world(storage_url: str) -> AsyncIterator[World]:
    w, db = await make_world(storage_url)
    yield w
    await w.store.stop()
    await db.close()


def ack_of(answer: Answer) -> dict[str, Any]:
    assert answer.body is not None, answer.json
    return json.loads(answer.body)  # type: ignore[no-any-return]


def outcome_issues(ack: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        i for e in ack["entry"] if e["resource"]["resourceType"] == "OperationOutcome" for i in e["resource"]["issue"]
    ]


INVALID = (
    FhirIssue("error", "invariant", "Constraint failed: medcom-careCommunication-2", ("Bundle.entry[1].resource",)),
    FhirIssue("warning", "informational", "a warning only", ("Bundle.meta",)),
)


async def test_valid_message_is_accepted_after_commit(world: World) -> None:
    doc = example(CARE)
    a = await world.post(dump(doc))
    assert a.status == 202 and a.json is not None
    assert a.json == {
        "id": a.json["id"],
        "status": "accepted",
        "format": "fhir",
        "type": "CareCommunication",
        "bundle_id": doc["id"],
        "message_header_id": header(doc)["id"],
    }
    assert world.validator.calls == [("CareCommunication", "application/fhir+json")]
    shown = await world.message(a.json["id"])
    assert (shown["sender_ean"], shown["receiver_ean"], shown["format"], shown["type"]) == (
        GLN_A,
        GLN_B,
        "fhir+json",
        "CareCommunication",
    )
    assert shown["ack_requested"] is True
    assert await world.sent_to(GLN_B) == [dump(doc)]


async def test_resend_is_a_duplicate_never_delivered_again(world: World) -> None:
    doc = example(CARE)
    first = await world.post(dump(doc))
    again = await world.post(dump(resend(doc)))  # same MessageHeader.id, new Bundle.id
    assert again.status == 200 and again.json is not None
    assert again.json["duplicate"] is True and again.json["id"] == first.json["id"]  # type: ignore[index]
    assert len(await world.sent_to(GLN_B)) == 1


async def test_invalid_message_gets_a_fatal_error_acknowledgement_in_its_own_format(world: World) -> None:
    doc = example(CARE)
    world.validator.issues[header(doc)["id"]] = INVALID
    a = await world.post(dump(doc))
    assert a.status == 422 and a.content_type == "application/fhir+json"
    ack = ack_of(a)
    mh = header(ack)
    assert mh["eventCoding"]["code"] == "acknowledgement-message"
    assert mh["response"]["code"] == "fatal-error" and mh["response"]["identifier"] == header(doc)["id"]
    issues = outcome_issues(ack)
    assert issues == [
        {
            "severity": "error",
            "code": "invariant",
            "diagnostics": "Constraint failed: medcom-careCommunication-2",
            "expression": ["Bundle.entry[1].resource"],
        }
    ]  # the validator's error passed through; its warning is not a reason to refuse
    # the same Acknowledgement is queued to the sender, from the receiver's GLN
    assert await world.sent_to(GLN_A) == [a.body]
    assert await world.sent_to(GLN_B) == []


async def test_negative_duplicate_gets_the_identical_acknowledgement(world: World) -> None:
    doc = example(CARE)
    world.validator.issues[header(doc)["id"]] = INVALID
    first = await world.post(dump(doc))
    again = await world.post(dump(resend(doc)))
    assert again.status == 422 and again.body == first.body


async def test_reused_bundle_id_with_another_message_header_id_is_refused(world: World) -> None:
    doc = example(CARE)
    assert (await world.post(dump(doc))).status == 202
    other = new_message(doc)
    other["id"] = doc["id"]
    a = await world.post(dump(other))
    assert a.status == 422
    ack = ack_of(a)
    assert header(ack)["response"]["code"] == "fatal-error"
    assert "Bundle.id" in outcome_issues(ack)[0]["diagnostics"]
    assert len(await world.sent_to(GLN_B)) == 1


async def test_acknowledgement_from_the_receiver_is_correlated_and_delivered(world: World) -> None:
    doc = example(CARE)
    original = await world.post(dump(doc))
    mid = original.json["id"]  # type: ignore[index]
    await world.store.mark_delivered([mid], "test")
    ack = answering(example(ACK_OK), doc)
    a = await world.post(dump(ack), token="b")
    assert a.status == 202 and a.json is not None and a.json["type"] == "Acknowledgement"
    shown = await world.message(mid)
    assert shown["state"] == "acknowledged" and shown["receipt_id"] == a.json["id"]
    assert await world.sent_to(GLN_A) == [dump(ack)]  # the Acknowledgement goes on to the original sender
    # a resend of the original now gets the receiver's Acknowledgement again, identical
    again = await world.post(dump(resend(doc)))
    assert again.status == 200 and again.json["acknowledgement_resent"] is True  # type: ignore[index]
    assert await world.sent_to(GLN_A) == [dump(ack), dump(ack)]


async def test_negative_acknowledgement_refuses_the_original_keeping_its_text(world: World) -> None:
    doc = example(CARE)
    mid = (await world.post(dump(doc))).json["id"]  # type: ignore[index]
    await world.post(dump(answering(example(ACK_FATAL), doc)), token="b")
    shown = await world.message(mid)
    assert shown["state"] == "refused" and shown["refuse_code"] == "fatal-error"
    assert "MSG_VALUESET_VALUE_UNKNOWN" in shown["refuse_text"]


async def test_a_cpr_quoted_in_a_receivers_acknowledgement_is_not_kept(world: World) -> None:
    doc = example(CARE)
    (cpr,) = cprs(doc)
    mid = (await world.post(dump(doc))).json["id"]  # type: ignore[index]
    ack = answering(example(ACK_FATAL), doc)
    for e in ack["entry"]:
        if e["resource"]["resourceType"] == "OperationOutcome":
            e["resource"]["issue"][0]["diagnostics"] = f"patient {cpr[:6]}-{cpr[6:]} is unknown here"
    await world.post(dump(ack), token="b")
    shown = await world.message(mid)
    assert shown["state"] == "refused" and "is unknown here" in shown["refuse_text"]
    assert cpr[:6] not in json.dumps(shown, default=str)


async def test_acknowledgement_from_another_party_changes_nothing(world: World) -> None:
    doc = example(CARE)
    mid = (await world.post(dump(doc))).json["id"]  # type: ignore[index]
    forged = with_gln(answering(example(ACK_OK), doc), GLN_B, GLN_C)  # C answers what B received
    a = await world.post(dump(forged), token="c")
    assert a.status == 422
    assert (await world.message(mid))["state"] == "accepted"


async def test_an_acknowledgement_is_never_acknowledged(world: World) -> None:
    doc = example(CARE)
    await world.post(dump(doc))
    ack = answering(example(ACK_OK), doc)
    world.validator.issues[header(ack)["id"]] = INVALID
    a = await world.post(dump(ack), token="b")
    assert a.status == 422 and a.json is not None  # a JSON refusal, no Acknowledgement of it
    assert await world.sent_to(GLN_B) == [dump(doc)]  # only the original
    assert await world.sent_to(GLN_A) == []  # no Acknowledgement of the Acknowledgement


async def test_receiver_that_does_not_take_the_standard(storage_url: str) -> None:
    w, db = await make_world(storage_url, accepts_b=["XDIS91", "Acknowledgement"])
    try:
        a = await w.post(dump(example(CARE)))
        assert a.status == 422
        issues = outcome_issues(ack_of(a))
        assert issues[0]["diagnostics"] == "modtageren kan ikke modtage CareCommunication"
        assert issues[0]["details"]["coding"][0]["code"] == "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"
        assert await w.sent_to(GLN_B) == []
    finally:
        await w.store.stop()
        await db.close()


async def test_validator_unavailable_is_503_with_a_transient_error_acknowledgement(world: World) -> None:
    world.validator.down = "the FHIR validator is starting"
    doc = example(CARE)
    a = await world.post(dump(doc))
    assert a.status == 503 and a.headers.get("Retry-After")
    assert header(ack_of(a))["response"]["code"] == "transient-error"
    assert await world.store.counts() == {}  # nothing stored: the sender sends it again
    world.validator.down = None
    assert (await world.post(dump(doc))).status == 202


async def test_validator_unavailable_for_an_acknowledgement_is_a_danish_json_503(world: World) -> None:
    """An Acknowledgement is never acknowledged: its 503 is the JSON error, and its reason is Danish."""
    world.validator.down = "the FHIR validator is starting"
    a = await world.post(dump(answering(example(ACK_OK), example(CARE))), token="b")
    assert a.status == 503 and a.headers["Retry-After"] == "30"
    assert a.json is not None
    assert a.json["reason"] == "FHIR-validering er ikke mulig lige nu: send meddelelsen igen senere"


async def test_busy_validator_is_503_with_a_throttled_transient_error_and_a_short_retry_after(world: World) -> None:
    world.validator.busy = True
    doc = example(CARE)
    a = await world.post(dump(doc))
    assert a.status == 503 and a.headers["Retry-After"] == "10"
    ack = ack_of(a)
    assert header(ack)["response"]["code"] == "transient-error"
    (issue,) = outcome_issues(ack)
    assert issue["code"] == "throttled" and "for mange meddelelser i kø" in issue["diagnostics"]
    assert await world.store.counts() == {}  # nothing stored: the sender sends it again
    a = await world.post(dump(answering(example(ACK_OK), doc)), token="b")
    assert a.status == 503 and a.json is not None and "for mange meddelelser i kø" in a.json["reason"]
    world.validator.busy = False
    assert (await world.post(dump(doc))).status == 202


async def test_no_cpr_or_name_leaves_in_an_acknowledgement(world: World) -> None:
    doc = example(CARE)
    (cpr,) = cprs(doc)
    world.validator.issues[header(doc)["id"]] = (
        FhirIssue(
            "error",
            "value",
            f"Patient {cpr} Bruno Elmer has a bad value",
            (f"Patient.identifier.where(value='{cpr}')",),
        ),
    )
    a = await world.post(dump(doc))
    assert a.status == 422 and a.body is not None
    text = a.body.decode()
    assert cpr not in text and "Bruno" not in text and "Elmer" not in text


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"resourceType": "Bundle", "id": "a", "id": "b"}', "forekommer flere gange"),
        (b'{"resourceType": "Bundle", "total": ' + b"9" * 400 + b"}", "cifre"),
        (b'{"resourceType": "Bundle", "total": NaN}', "NaN"),
        (b'{"resourceType": "Bundle", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", "indlejret dybere"),
        (b'{"resourceType": "Patient"}', "ikke en FHIR Bundle"),
        (b'{"resourceType": "Bundle", ', "ikke velformet JSON"),
        (b'{"resourceType": "Bundle", "id": "\xff"}', "UTF-8"),
    ],
)
async def test_hostile_json_is_a_clear_422(world: World, body: bytes, says: str) -> None:
    a = await world.post(body)
    assert a.status == 422 and a.body is not None
    outcome = json.loads(a.body)
    assert outcome["resourceType"] == "OperationOutcome" and says in outcome["issue"][0]["diagnostics"]
    assert world.validator.calls == []


async def test_entity_tricks_in_fhir_xml_are_refused(world: World) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE Bundle [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b'<Bundle xmlns="http://hl7.org/fhir"><id value="&b;"/></Bundle>'
    )
    a = await world.post(body, content_type="application/fhir+xml")
    assert a.status == 422 and a.content_type == "application/fhir+xml" and a.body is not None
    assert b"DOCTYPE" in a.body and world.validator.calls == []


async def test_no_acknowledgement_after_delivery_is_overdue_like_a_missing_receipt(world: World) -> None:
    mid = (await world.post(dump(example(CARE)))).json["id"]  # type: ignore[index]
    await world.store.mark_delivered([mid], "test")
    overdue, alerts = await world.store.sweep_missing_receipts(timedelta(seconds=-1), timedelta(seconds=-1))
    assert overdue == [mid] and [a.id for a in alerts] == [mid]
    assert (await world.message(mid))["state"] == "ack_overdue"


async def test_encrypted_at_rest_and_a_negative_duplicate_still_identical(storage_url: str) -> None:
    keyring = BodyKeyring({"k1": os.urandom(32)}, "k1")
    w, db = await make_world(storage_url, keyring=keyring)
    try:
        doc = example(CARE)
        accepted = await w.post(dump(doc))
        assert accepted.status == 202
        async with db.engine.connect() as conn:
            stored = (await conn.execute(messages.select().with_only_columns(messages.c.body))).scalars().all()
        assert all(b"Bruno" not in b and b"2509479989" not in b for b in stored)  # sealed
        assert await w.sent_to(GLN_B) == [dump(doc)]  # opened for delivery
        bad = new_message(doc)
        w.validator.issues[header(bad)["id"]] = INVALID
        first = await w.post(dump(bad))
        again = await w.post(dump(resend(bad)))
        assert first.status == again.status == 422 and again.body == first.body
    finally:
        await w.store.stop()
        await db.close()
