"""End to end: hospital -> municipality, the receipt back, duplicates, rejections, the message API."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from edigate.medcom import Validator, build_negative_receipt, build_positive_receipt
from tests.conftest import OFFICIAL_XSD
from tests.harness.delivered import delivered_through
from tests.integration.gateway.conftest import (
    HOSPITAL,
    HOSPITAL2,
    MUNICIPALITY,
    PICKY_MUNI,
    UNKNOWN,
    Gateway,
    call,
)
from tests.unit.medcom.samples import FICTITIOUS_CPR, xdis20_message, xdis91_message

SENT = datetime(2026, 11, 22, 9, 30)


def wait_state(gw: Gateway, mid: int, state: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = gw.get(f"/api/v1/messages/{mid}").body
        if last.get("state") == state:
            return last
        time.sleep(0.1)
    raise AssertionError(f"message {mid} not {state}: {last}")


def envelope_of(xml: bytes):
    result = Validator().validate(xml)
    assert result.valid, result.errors
    return result.envelope


def test_hospital_to_municipality_and_receipt_back(gateway: Gateway) -> None:
    xml = xdis91_message(envelope_id="ENVRT001", letter_id="LETRT001")
    reply = gateway.post(xml)
    assert reply.status == 202, reply
    assert reply.body["status"] == "accepted" and reply.body["type"] == "XDIS91"
    assert reply.body["envelope_id"] == "ENVRT001" and reply.body["letters"] == ["LETRT001"]
    mid = reply.body["id"]

    assert gateway.municipality_rx.wait_for(1) == [xml]  # byte for byte, windows-1252 kept
    wait_state(gateway, mid, "delivered")

    receipt = build_positive_receipt(envelope_of(xml), envelope_id="KVIT0001", letter_id="KVITL0001", sent=SENT)
    r2 = gateway.post(receipt, "municipality")
    assert r2.status == 202, r2
    assert r2.body["type"] == "XCTL03"
    assert gateway.hospital_rx.wait_for(1) == [receipt]

    shown = wait_state(gateway, mid, "acknowledged")
    assert [lt["receipt_state"] for lt in shown["letters"]] == ["acknowledged"]
    events = [e["event"] for e in shown["history"]]
    assert events[:3] == ["received", "accepted", "delivered"] and events[-1] == "acknowledged"
    assert all(re.match(r"\d{4}-\d\d-\d\dT", e["at"]) for e in shown["history"])
    assert shown["attempts"] == 1 and shown["receipt_id"] == r2.body["id"]


def test_negative_receipt_marks_letters_refused(gateway: Gateway) -> None:
    xml = xdis91_message(envelope_id="ENVNEG01", letter_id="LETNEG01")
    mid = gateway.post(xml).body["id"]
    gateway.municipality_rx.wait_for(1)
    refusal = build_negative_receipt(
        envelope_of(xml),
        envelope_id="KVITNEG1",
        letter_id="KVITNEGL1",
        sent=SENT,
        refuse_code="problem_med_modtagerID",
        refuse_text="Ukendt modtager i EOJ",
    )
    assert gateway.post(refusal, "municipality").status == 202
    shown = wait_state(gateway, mid, "refused")
    assert shown["letters"][0]["refuse_code"] == "problem_med_modtagerID"
    assert shown["letters"][0]["refuse_text"] == "Ukendt modtager i EOJ"
    assert gateway.hospital_rx.wait_for(1) == [refusal]


def test_duplicates_follow_the_medcom_matrix(gateway: Gateway) -> None:
    xml = xdis91_message(envelope_id="ENVDUP01", letter_id="LETDUP01")
    first = gateway.post(xml)
    assert first.status == 202
    again = gateway.post(xml)
    assert again.status == 200, again
    assert again.body["duplicate"] is True and again.body["id"] == first.body["id"]
    assert again.body["status"] == "accepted"

    gateway.municipality_rx.wait_for(1)
    receipt = build_positive_receipt(envelope_of(xml), envelope_id="KVITDUP1", letter_id="KVITDUPL1", sent=SENT)
    assert gateway.post(receipt, "municipality").status == 202
    gateway.hospital_rx.wait_for(1)
    wait_state(gateway, first.body["id"], "acknowledged")

    # the same envelope again: not delivered again, the original receipt is re-sent
    third = gateway.post(xml)
    assert third.status == 200 and third.body["receipt_resent"] is True
    # the letter again in a new envelope (the sender's resend after a lost receipt): same answer
    resend = gateway.post(xdis91_message(envelope_id="ENVDUP02", letter_id="LETDUP01"))
    assert resend.status == 200 and resend.body["id"] == first.body["id"], resend
    assert gateway.hospital_rx.wait_for(3) == [receipt, receipt, receipt]
    assert gateway.post(xdis91_message(envelope_id="ENVDUP03", letter_id="LETDUP03")).status == 202
    got = delivered_through(gateway.municipality_rx, "ENVDUP03")
    assert got == ["ENVDUP01", "ENVDUP03"], "a duplicate was delivered again"

    # an envelope id reused with other letters is an error
    reused = gateway.post(xdis91_message(envelope_id="ENVDUP01", letter_id="LETDUP99"))
    assert reused.status == 422 and reused.body["refuse_code"] == "ikke_specificeret", reused


def test_invalid_message_gets_a_negative_receipt(gateway: Gateway) -> None:
    bad = (
        xdis91_message(envelope_id="ENVBAD01", letter_id="LETBAD01")
        .replace(b"<Priority>", b"<Prioritet>")
        .replace(b"</Priority>", b"</Prioritet>")
    )
    reply = gateway.post(bad)
    assert reply.status == 422, reply
    assert reply.body["status"] == "rejected" and reply.body["refuse_code"] == "syntaksfejl"
    assert reply.body["errors"] and reply.body["errors"][0]["message"]
    receipt_text = reply.body["receipt"]
    assert "<NegativeReceipt>" in receipt_text and "ENVBAD01" in receipt_text
    assert FICTITIOUS_CPR not in receipt_text

    # queued to the sender's own delivery as well
    [delivered] = gateway.hospital_rx.wait_for(1)
    assert b"NegativeReceipt" in delivered and b"ENVBAD01" in delivered
    if not OFFICIAL_XSD.is_dir():
        pytest.skip(f"official MedCom XSDs not found at {OFFICIAL_XSD}; XCTL02 schema check skipped")
    verdict = Validator(OFFICIAL_XSD).validate(delivered)
    assert verdict.valid and verdict.message_type == "XCTL02", verdict.errors

    # the same invalid message again: the same outcome, and the receipt again
    again = gateway.post(bad)
    assert again.status == 200 and again.body["status"] == "rejected" and again.body["receipt_resent"]


def test_refusals_and_authentication(gateway: Gateway) -> None:
    unknown = gateway.post(xdis91_message(envelope_id="ENVUNK01", letter_id="LENVUNK01", receiver_ean=UNKNOWN))
    assert unknown.status == 422 and unknown.body["refuse_code"] == "ukendt_lokationsnummer", unknown

    picky = gateway.post(xdis91_message(envelope_id="ENVPIC01", letter_id="LENVPIC01", receiver_ean=PICKY_MUNI))
    assert picky.status == 422 and picky.body["refuse_code"] == "problem_med_version", picky
    assert (
        gateway.post(xdis20_message(envelope_id="ENVPIC02", letter_id="LENVPIC02", receiver_ean=PICKY_MUNI)).status
        == 202
    )

    xml = xdis91_message(envelope_id="ENVAUTH1", letter_id="LENVAUTH1")
    assert gateway.post(xml, "wrong-token").status == 401
    no_token = call(gateway.url, "POST", "/api/v1/messages", xml)
    assert no_token.status == 401 and no_token.body["status"] == "error"
    forbidden = gateway.post(xml, "municipality")  # Sender EAN is the hospital's
    assert forbidden.status == 403 and "er ikke en af dine" in forbidden.body["reason"]
    assert gateway.post(xml, content_type="application/json").status == 415
    assert gateway.post(b"<x>" + b" " * 300_000 + b"</x>").status == 413

    # the integration engine speaks for both hospitals
    engine = gateway.post(xdis91_message(envelope_id="ENVENG01", letter_id="LENVENG01", sender_ean=HOSPITAL2), "engine")
    assert engine.status == 202, engine
    assert (
        gateway.post(
            xdis91_message(envelope_id="ENVENG02", letter_id="LENVENG02", sender_ean=MUNICIPALITY), "engine"
        ).status
        == 403
    )


def test_message_api_visibility_and_no_cpr(gateway: Gateway) -> None:
    mid = gateway.post(xdis91_message(envelope_id="ENVAPI01", letter_id="LETAPI01")).body["id"]
    as_sender = gateway.get(f"/api/v1/messages/{mid}", "hospital")
    as_receiver = gateway.get(f"/api/v1/messages/{mid}", "municipality")
    assert as_sender.status == 200 and as_receiver.status == 200
    assert "body" not in as_sender.body and FICTITIOUS_CPR not in str(as_sender.body)
    assert gateway.get(f"/api/v1/messages/{mid}", "mailbox").status == 404  # not its message
    admin = gateway.get(f"/api/v1/messages/{mid}", "admin")
    assert FICTITIOUS_CPR in admin.body["body"]

    listing = gateway.get(f"/api/v1/messages?envelope_id=ENVAPI01&sender={HOSPITAL}", "hospital")
    assert [m["id"] for m in listing.body["messages"]] == [mid]
    assert FICTITIOUS_CPR not in str(listing.body)
    assert gateway.get("/api/v1/messages?state=accepted", "mailbox").body["messages"] == []
    assert gateway.get("/api/v1/messages?state=nonsense").status == 400
    assert gateway.get("/api/v1/messages?since=2026-01-01T00:00:00Z").status == 200

    for path in (
        "/api/v1/messages/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/messages/1;drop",
        "/api/v1/messages/-1",
        "/api/v1/messages/99999999999999999999999",
    ):
        assert gateway.get(path).status in (400, 404), path
    assert gateway.get("/api/v1/messages/424242").status == 404

    retry = call(gateway.url, "POST", f"/api/v1/messages/{mid}/retry", token="tok-admin")
    assert retry.status == 200 and retry.body["status"] == "queued"
    assert gateway.get("/readyz").body["components"]["storage"] == "ok"
    log = gateway.service.log_text()
    assert FICTITIOUS_CPR not in log and "Testesen" not in log


def test_sigterm_stops_gracefully(gateway: Gateway) -> None:
    assert gateway.post(xdis91_message(envelope_id="ENVTERM1", letter_id="LETTERM1")).status == 202
    gateway.municipality_rx.wait_for(1)
    assert gateway.service.stop() == 0
    log = gateway.service.log_text()
    assert '"event": "edigate_stopped"' in log and "Traceback" not in log
