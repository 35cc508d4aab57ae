"""An Emessage whose letters go to different receivers is refused, never routed by its first letter."""

from __future__ import annotations

from tests.integration.gateway.conftest import MUNICIPALITY, Gateway
from tests.unit.medcom.samples import xdis91_message

OTHER_MUNICIPALITY = "5790000111114"


def two_letters(second_receiver: str) -> bytes:
    """An XDIS91 Emessage with two ClinicalEmail letters; the second one to `second_receiver`."""
    text = xdis91_message(envelope_id="ENVMIX01", letter_id="LETMIX01").decode("cp1252")
    start, end = text.index("<ClinicalEmail>"), text.index("</ClinicalEmail>") + len("</ClinicalEmail>")
    second = text[start:end].replace("LETMIX01", "LETMIX02").replace(MUNICIPALITY, second_receiver)
    return (text[:end] + second + text[end:]).encode("cp1252")


def test_letters_to_two_receivers_get_a_negative_receipt(gateway: Gateway) -> None:
    reply = gateway.post(two_letters(OTHER_MUNICIPALITY))
    assert reply.status == 422, reply
    assert reply.body["refuse_code"] == "ikke_specificeret"
    reason = reply.body["errors"][0]["message"]
    assert "2 forskellige modtagere" in reason and MUNICIPALITY in reason and OTHER_MUNICIPALITY in reason
    receipt = reply.body["receipt"]
    assert "NegativeReceipt" in receipt and "ikke_specificeret" in receipt and "LETMIX01" in receipt
    assert gateway.municipality_rx.received == []  # nothing went to the first letter's receiver


def test_two_letters_to_one_receiver_are_delivered(gateway: Gateway) -> None:
    reply = gateway.post(two_letters(MUNICIPALITY))
    assert reply.status == 202, reply
    bodies = gateway.municipality_rx.wait_for(1)
    assert b"LETMIX01" in bodies[0] and b"LETMIX02" in bodies[0]
