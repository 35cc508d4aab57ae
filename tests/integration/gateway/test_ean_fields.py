"""Issue 10 item 5: a CPR typed into an EAN field is refused before anything else and never echoed or stored.

An EAN/GLN is 13 digits with a GS1 check digit. At intake (every letter's Sender/Receiver and a receipt's
original parties), in API filters (messages, routes, mailbox) and in the partner configuration the check
comes first; the answer names the field and says, in Danish, "ikke et gyldigt EAN/GLN-nummer (13 cifre med
GS1-kontrolciffer)" (the configuration's errors, for the operator, stay in English like all config errors).
"""

from __future__ import annotations

from typing import Any

import pytest

from edigate.config import CONFIG_INVALID_EAN
from edigate.medcom import Validator
from edigate.medcom.ean import INVALID_EAN, is_valid_ean, with_check_digit
from edigate.medcom.model import Envelope
from edigate.settings import ConfigError, parse_settings
from tests.integration.gateway.conftest import HOSPITAL, MUNICIPALITY, Gateway, call
from tests.unit.medcom.samples import xdis91_message

CPR_LIKE = "2311754321"  # the example: a CPR number typed into the receiver EAN field
WRONG_CHECK = MUNICIPALITY[:12] + str((int(MUNICIPALITY[12]) + 1) % 10)  # 13 digits, wrong check digit
HOSTILE = [CPR_LIKE, "231175-4321", WRONG_CHECK, "57900001984450", "５７９０００１３８２４４５"]


def test_the_check() -> None:
    assert is_valid_ean(HOSPITAL) and is_valid_ean(MUNICIPALITY)
    assert with_check_digit(MUNICIPALITY[:12]) == MUNICIPALITY
    assert not any(is_valid_ean(v) for v in HOSTILE)
    assert not is_valid_ean(None) and not is_valid_ean(5790001382445)


@pytest.mark.parametrize("value", HOSTILE)
def test_partner_config_refuses_without_quoting(value: str) -> None:
    partner = {"ean": value, "name": "Testkommune", "kind": "municipality", "cluster": "Fyn"}
    with pytest.raises(ConfigError) as err:
        parse_settings({"partners": [partner]})
    assert str(err.value) == f"partners[0].ean: {CONFIG_INVALID_EAN}"
    with pytest.raises(ConfigError) as err:
        parse_settings({"medcom": {"gateway_ean": value}})
    assert str(err.value) == f"medcom.gateway_ean: {CONFIG_INVALID_EAN}"


def _assert_not_echoed(value: str, *raws: bytes) -> None:
    for raw in raws:
        assert value.encode() not in raw, raw[:300]


def test_intake_and_filters_refuse_and_never_echo(gateway: Gateway) -> None:
    for k, value in enumerate((CPR_LIKE, WRONG_CHECK)):
        as_receiver = gateway.post(
            xdis91_message(envelope_id=f"ENVEAN0{k}", letter_id=f"LETEAN0{k}", receiver_ean=value)
        )
        assert as_receiver.status == 422, as_receiver
        assert as_receiver.body["reason"] == f"Modtager-EAN i brev 1: {INVALID_EAN}"
        assert as_receiver.body["refuse_code"] == "ukendt_lokationsnummer"
        # checked before the ownership check, whose 403 quotes the Sender EAN
        as_sender = gateway.post(xdis91_message(envelope_id="ENVEAN02", letter_id="LETEAN02", sender_ean=value))
        assert as_sender.status == 422, as_sender
        assert as_sender.body["reason"] == f"Afsender-EAN i brev 1: {INVALID_EAN}"

        answers = [
            gateway.get(f"/api/v1/messages?receiver={value}"),
            gateway.get(f"/api/v1/messages?sender={value}"),
            gateway.get(f"/api/v1/routes?receiver={value}"),
            call(gateway.url, "GET", f"/api/v1/mailbox?ean={value}", token="tok-mailbox"),
        ]
        assert [a.status for a in answers] == [400, 400, 400, 400], answers
        assert all(INVALID_EAN in a.body["reason"] for a in answers)
        route = gateway.get(f"/api/v1/routes/{HOSPITAL}/{WRONG_CHECK}")
        assert route.status == 404 and INVALID_EAN in route.body["reason"]
        _assert_not_echoed(value, as_receiver.raw, as_sender.raw, route.raw, *(a.raw for a in answers))

    # nothing was stored, listed or counted under the bad value: the invalid sender's messages not at all,
    # the invalid receiver's as refusals without a receiver (no [medcom] gateway_ean here: no XCTL02)
    listing = gateway.get("/api/v1/messages?limit=1000")
    assert listing.status == 200, listing
    assert sorted((m["envelope_id"], m["receiver_ean"], m["state"]) for m in listing.body["messages"]) == [
        ("ENVEAN00", "", "rejected"),
        ("ENVEAN01", "", "rejected"),
    ], listing.body
    metrics = call(gateway.url, "GET", "/metrics", token="tok-admin")
    _assert_not_echoed(CPR_LIKE, listing.raw, metrics.raw if isinstance(metrics.raw, bytes) else b"")
    _assert_not_echoed(WRONG_CHECK, listing.raw, metrics.raw if isinstance(metrics.raw, bytes) else b"")
    # a valid message still goes through
    assert gateway.post(xdis91_message(envelope_id="ENVEAN03", letter_id="LETEAN03")).status == 202


GATEWAY_EAN = with_check_digit("579000019990")


def test_an_invalid_receiver_ean_is_answered_with_a_negative_receipt_to_the_sender(gateway_factory: Any) -> None:
    """MedCom answers a refused OIOXML message with an XCTL02 to its sender: with a valid Sender and an
    invalid Receiver EAN (a CPR typed into the field) the sender can be addressed, so the gateway signs the
    receipt with its own EAN (the receiver cannot). Neither the 422, the receipt nor the listing echo it."""
    gateway: Gateway = gateway_factory(gateway_ean=GATEWAY_EAN)
    answer = gateway.post(xdis91_message(envelope_id="ENVEAN11", letter_id="LETEAN11", receiver_ean=CPR_LIKE))
    assert answer.status == 422, answer
    assert answer.body["refuse_code"] == "ukendt_lokationsnummer"
    assert answer.body["reason"] == f"Modtager-EAN i brev 1: {INVALID_EAN}"
    assert answer.body["receipt"] and answer.body["receipt_id"], answer.body
    (delivered,) = gateway.hospital_rx.wait_for(1)
    receipt = parse_emessage(delivered)
    assert receipt.message_type == "XCTL02" and receipt.receipt is not None
    assert receipt.receipt.refuse_code == "ukendt_lokationsnummer"
    assert (receipt.sender.ean, receipt.receiver.ean) == (GATEWAY_EAN, HOSPITAL)
    assert receipt.receipt.original_envelope_id == "ENVEAN11"
    assert receipt.receipt.original_receiver_ean == GATEWAY_EAN
    listing = gateway.get("/api/v1/messages?limit=1000")
    _assert_not_echoed(CPR_LIKE, answer.raw, delivered, listing.raw)

    # an invalid Sender EAN: nobody to address, a 422 and nothing queued
    as_sender = gateway.post(xdis91_message(envelope_id="ENVEAN12", letter_id="LETEAN12", sender_ean=CPR_LIKE))
    assert as_sender.status == 422 and as_sender.body.get("receipt") is None, as_sender
    later = gateway.post(xdis91_message(envelope_id="ENVEAN13", letter_id="LETEAN13", receiver_ean=WRONG_CHECK))
    assert later.status == 422 and later.body["receipt_id"], later
    # the next receipt the hospital gets answers ENVEAN13: none was queued for ENVEAN12 in between
    second = parse_emessage(gateway.hospital_rx.wait_for(2)[1])
    assert second.receipt is not None and second.receipt.original_envelope_id == "ENVEAN13"
    _assert_not_echoed(CPR_LIKE, gateway.service.log_path.read_bytes())
    _assert_not_echoed(WRONG_CHECK, gateway.service.log_path.read_bytes())


def parse_emessage(xml: bytes) -> Envelope:
    """A receipt the gateway sent, read and checked by the gateway's own validator (schema-valid XCTL02)."""
    result = Validator().validate(xml)
    assert result.valid and result.envelope is not None, result.errors
    return result.envelope
