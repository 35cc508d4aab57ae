"""Issue 10 item 2: a receipt changes a message only when it comes from that message's receiver.

A third partner with its own valid token names another organisation's message in an XCTL02/XCTL03: it gets
403 when it claims a Sender EAN it does not own, 422 when its Sender is not the original's receiver, and the
original stays as it was (not acknowledged, not refused; the missing-receipt alert still fires).
"""

from __future__ import annotations

from edigate.medcom import build_negative_receipt, build_positive_receipt
from edigate.medcom.receipts import OriginalMessage
from tests.integration.gateway.conftest import DIRECTORY_MUNI, HOSPITAL, MUNICIPALITY, Gateway
from tests.integration.gateway.test_flow import SENT, envelope_of, wait_state
from tests.unit.medcom.samples import xdis91_message


def forged_receipts(xml: bytes) -> list[tuple[str, str, bytes]]:
    """(what, token, receipt) of every way the directory municipality can try to answer H -> M's message."""
    env = envelope_of(xml)
    claims_itself = OriginalMessage(env.id, HOSPITAL, DIRECTORY_MUNI, OriginalMessage.of(env).letters)
    return [
        (  # sent in the real receiver's name: the caller does not own that EAN
            "XCTL03 as the receiver",
            "directory",
            build_positive_receipt(env, envelope_id="FORGE01", letter_id="FORGEL01", sent=SENT),
        ),
        (  # from its own EAN, naming the real receiver as OriginalReceiver
            "XCTL03 from itself",
            "directory",
            build_positive_receipt(
                env, envelope_id="FORGE02", letter_id="FORGEL02", sent=SENT, sender_ean=DIRECTORY_MUNI
            ),
        ),
        (  # from its own EAN, claiming to be the original receiver itself
            "XCTL02 claiming to be the receiver",
            "directory",
            build_negative_receipt(
                claims_itself,
                envelope_id="FORGE03",
                letter_id="FORGEL03",
                sent=SENT,
                refuse_code="ikke_specificeret",
                refuse_text="afvist",
                sender_ean=DIRECTORY_MUNI,
            ),
        ),
        (
            "XCTL02 from itself",
            "directory",
            build_negative_receipt(
                env,
                envelope_id="FORGE04",
                letter_id="FORGEL04",
                sent=SENT,
                refuse_code="ikke_specificeret",
                refuse_text="afvist",
                sender_ean=DIRECTORY_MUNI,
            ),
        ),
    ]


def test_forged_receipts_are_refused_and_change_nothing(gateway: Gateway) -> None:
    xml = xdis91_message(envelope_id="ENVFORGE1", letter_id="LETFORGE1")
    mid = gateway.post(xml).body["id"]
    gateway.municipality_rx.wait_for(1)
    before = wait_state(gateway, mid, "delivered")

    statuses = {}
    for what, token, receipt in forged_receipts(xml):
        reply = gateway.post(receipt, token)
        statuses[what] = reply.status
        assert reply.status in (403, 422), (what, reply)
        reason = reply.body["reason"]
        if reply.status == 403:
            assert "er ikke en af dine" in reason, (what, reply)
        else:
            assert "er ikke modtager af den meddelelse, den svarer på" in reason, (what, reply)
            assert MUNICIPALITY not in reason and HOSPITAL not in reason  # only the caller's own EAN
    assert statuses == {
        "XCTL03 as the receiver": 403,
        "XCTL03 from itself": 422,
        "XCTL02 claiming to be the receiver": 422,
        "XCTL02 from itself": 422,
    }

    after = gateway.get(f"/api/v1/messages/{mid}").body
    assert after["state"] == "delivered" and after["receipt_id"] is None, after
    assert after["letters"] == before["letters"]
    assert [e["event"] for e in after["history"]] == [e["event"] for e in before["history"]]

    # the real receiver still can answer it, and its receipt is the only one the hospital gets (FIFO: a
    # forged receipt queued before it would arrive first)
    real = build_positive_receipt(envelope_of(xml), envelope_id="KVITFRG1", letter_id="KVITFRGL1", sent=SENT)
    assert gateway.post(real, "municipality").status == 202
    wait_state(gateway, mid, "acknowledged")
    assert gateway.hospital_rx.wait_for(1) == [real], "a forged receipt reached the original sender"
