"""Envelope objects for store tests that do not need XML (the MedCom core parses the real thing)."""

from __future__ import annotations

from edigate.medcom.model import Envelope, Letter, OriginalLetterRef, Party, ReceiptContent

HOSPITAL = "5790000000050"
MUNICIPALITY = "5790000000074"
OTHER = "5790000000081"


def envelope(
    env_id: str,
    letter_ids: tuple[str, ...] = ("L1",),
    *,
    sender: str = HOSPITAL,
    receiver: str = MUNICIPALITY,
    ack: str = "pluspositivkvitt",
    type_: str = "XDIS91",
) -> Envelope:
    letters = tuple(
        Letter(
            id=lid,
            type=type_,
            root="ClinicalEmail",
            version_code="XD9134L",
            statistical_code=type_,
            status="nytbrev",
            sender=Party(sender),
            receiver=Party(receiver),
        )
        for lid in letter_ids
    )
    return Envelope(id=env_id, sent=None, acknowledgement_code=ack, namespace="x", message_type=type_, letters=letters)


def positive_receipt(env_id: str, original: Envelope, *, refused: str | None = None) -> Envelope:
    rc = ReceiptContent(
        kind="negative" if refused else "positive",
        original_envelope_id=original.id,
        original_sender_ean=original.sender.ean,
        original_receiver_ean=original.receiver.ean,
        original_letters=tuple(OriginalLetterRef(lt.id, lt.version_code) for lt in original.letters),
        refuse_code=refused,
        refuse_text="afvist" if refused else None,
    )
    type_ = "XCTL02" if refused else "XCTL03"
    letter = Letter(
        id="R" + env_id,
        type=type_,
        root="PositiveReceipt",
        version_code="XC0330Q",
        statistical_code=type_,
        status=None,
        sender=Party(original.receiver.ean),
        receiver=Party(original.sender.ean),
    )
    return Envelope(
        id=env_id,
        sent=None,
        acknowledgement_code="minuspositivkvitt",
        namespace="x",
        message_type=type_,
        letters=(letter,),
        receipt=rc,
    )
