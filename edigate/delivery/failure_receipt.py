"""The negative receipt (XCTL02) a sender gets when edigate finally gives up delivering its message.

A sender that is never told assumes delivery (MedCom: the sender resends only while no receipt came). So
a dead letter is answered to its sender with RefuseCode ``ikke_specificeret`` and a Danish text saying the
message could not be delivered. Receipts themselves are never answered with a receipt.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import structlog

from edigate.medcom import Validator
from edigate.medcom.ids import new_identifier
from edigate.medcom.receipts import DANISH_TIME, build_negative_receipt
from edigate.store.model import GeneratedReceipt

__all__ = ["REFUSE_TEXT", "failure_receipt"]

log = structlog.get_logger("edigate.delivery")

REFUSE_TEXT = (
    "Meddelelsen kunne ikke afleveres til modtageren, og edigate har opgivet at levere den. Kontakt EDI-support."
)


@lru_cache(maxsize=1)
def _validator() -> Validator:
    return Validator()


def failure_receipt(body: bytes, *, now: datetime, gateway_ean: str | None) -> GeneratedReceipt | None:
    """An XCTL02 refusing `body` (a dead letter), from the gateway (or the original receiver); None for a
    receipt or a body that cannot be read far enough to answer (it was valid when it was accepted)."""
    try:
        envelope = _validator().validate(body, explain=False).envelope
    except Exception as exc:  # never let a receipt stop the dead-lettering itself
        log.warning("failure_receipt_not_built", error=type(exc).__name__)
        return None
    if envelope is None or envelope.is_receipt or not envelope.sender.ean:
        return None
    sender = gateway_ean or envelope.receiver.ean
    if not sender:
        return None
    envelope_id, letter_id = new_identifier("N"), new_identifier("N")
    try:
        receipt = build_negative_receipt(
            envelope,
            envelope_id=envelope_id,
            letter_id=letter_id,
            sent=now.astimezone(DANISH_TIME).replace(tzinfo=None),
            refuse_code="ikke_specificeret",
            refuse_text=REFUSE_TEXT,
            sender_ean=sender,
        )
    except ValueError as exc:
        log.warning("failure_receipt_not_built", envelope_id=envelope.id, error=str(exc)[:200])
        return None
    return GeneratedReceipt(body=receipt, envelope_id=envelope_id, letter_id=letter_id, sender_ean=sender)
