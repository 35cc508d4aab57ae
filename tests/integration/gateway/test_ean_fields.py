"""Issue 10 item 5: a CPR typed into an EAN field is refused before anything else and never echoed or stored.

An EAN/GLN is 13 digits with a GS1 check digit. At intake (every letter's Sender/Receiver and a receipt's
original parties), in API filters (messages, routes, mailbox) and in the partner configuration the check
comes first; the answer names the field and says, in Danish, "ikke et gyldigt EAN/GLN-nummer (13 cifre med
GS1-kontrolciffer)" (the configuration's errors, for the operator, stay in English like all config errors).
"""

from __future__ import annotations

import pytest

from edigate.config import CONFIG_INVALID_EAN
from edigate.medcom.ean import INVALID_EAN, is_valid_ean, with_check_digit
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
    for value in (CPR_LIKE, WRONG_CHECK):
        as_receiver = gateway.post(xdis91_message(envelope_id="ENVEAN01", letter_id="LETEAN01", receiver_ean=value))
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

    # nothing was stored, listed or counted under the bad value
    listing = gateway.get("/api/v1/messages?limit=1000")
    assert listing.status == 200 and listing.body["count"] == 0, listing
    metrics = call(gateway.url, "GET", "/metrics", token="tok-admin")
    _assert_not_echoed(CPR_LIKE, listing.raw, metrics.raw if isinstance(metrics.raw, bytes) else b"")
    _assert_not_echoed(WRONG_CHECK, listing.raw, metrics.raw if isinstance(metrics.raw, bytes) else b"")
    # a valid message still goes through
    assert gateway.post(xdis91_message(envelope_id="ENVEAN03", letter_id="LETEAN03")).status == 202
