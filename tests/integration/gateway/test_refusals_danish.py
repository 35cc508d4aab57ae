"""Issue 12 item 11: every refusal a hospital's or municipality's system receives is in Danish.

The gateway's own words reach the sender in the 4xx answer's reason and, where a receipt goes back, in the
RefuseText of the XCTL02 negative receipt. Walk the refusal paths of intake (a CPR typed as sender or
receiver EAN, an Identifier that cannot travel) and read both.
"""

from __future__ import annotations

from edigate.medcom import extract_envelope, parse
from tests.integration.gateway.conftest import Gateway
from tests.unit.medcom.samples import xdis91_message

CPR_LIKE = "2311754321"
ENGLISH = ("not a valid", "must be", "visible ASCII", "of letter", "digits with")


def refuse_texts(receipt: bytes) -> str:
    """The XCTL02's RefuseText, envelope-wide and per letter, as the sender's system reads it."""
    envelope = extract_envelope(parse(receipt))
    assert envelope is not None and envelope.receipt is not None, receipt[:300]
    rc = envelope.receipt
    assert rc.kind == "negative", rc
    return " ".join(t for t in (rc.refuse_text, *(text for _, _, text in rc.letter_refusals)) if t)


def assert_danish(text: str) -> None:
    assert not any(word in text for word in ENGLISH), text


def test_refusals_say_why_in_danish(gateway: Gateway) -> None:
    # a CPR number typed into the receiver EAN field: 422 and an XCTL02 back to the (known) sender
    receiver = gateway.post(xdis91_message(envelope_id="ENVDA01", letter_id="LETDA01", receiver_ean=CPR_LIKE))
    assert receiver.status == 422, receiver
    reason = receiver.body["reason"]
    assert reason == "Modtager-EAN i brev 1: ikke et gyldigt EAN/GLN-nummer (13 cifre med GS1-kontrolciffer)"
    assert CPR_LIKE not in receiver.raw.decode(errors="replace")

    # an Identifier with a line break: 422 and an XCTL02
    bad_id = xdis91_message(envelope_id="PZ", letter_id="LETDA02").replace(
        b"<Identifier>PZ</Identifier>", b"<Identifier>PZ&#10;X</Identifier>"
    )
    ident = gateway.post(bad_id)
    assert ident.status == 422, ident
    assert ident.body["reason"] == (
        "Envelope/Identifier skal være 1–14 synlige ASCII-tegn (uden mellemrum, linjeskift eller kontroltegn)"
    )

    # a CPR number as the sender EAN: refused before anything else, in Danish
    sender = gateway.post(xdis91_message(envelope_id="ENVDA03", letter_id="LETDA03", sender_ean=CPR_LIKE))
    assert sender.status == 422, sender
    assert sender.body["reason"].startswith("Afsender-EAN i brev 1: ikke et gyldigt EAN/GLN-nummer"), sender
    for reply in (receiver, ident, sender):
        assert_danish(reply.body["reason"])

    # the sender's system reads the same words in the RefuseText of its negative receipt (an EAN refusal
    # answers "receipt": None: the envelope is dropped so that nothing keeps the value typed)
    assert receiver.body["receipt"] is None and sender.body["receipt"] is None
    (receipt,) = gateway.hospital_rx.wait_for(1)
    text = refuse_texts(receipt)
    assert "Envelope/Identifier skal være 1–14 synlige ASCII-tegn" in text, text
    assert_danish(text)
