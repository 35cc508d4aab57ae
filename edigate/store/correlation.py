"""Who may answer a message: the one rule every receipt passes before it changes the message it names.

A receipt (MedCom XCTL01/02/03 today, a FHIR Acknowledgement later) turns its original into `acknowledged`
or `refused`, which also silences the missing-receipt alert. Only the original's receiver may say that:
the receipt's Sender EAN must be the original's Receiver EAN. That the caller owns the Sender EAN is
checked where the caller is known (the web layer answers 403); this module holds the rest, pure, so
both the classic and the FHIR path ask the same question.
"""

from __future__ import annotations

import re
from typing import Protocol

from edigate.medcom.model import Envelope
from notify.cpr import redact_cpr

__all__ = ["PARTNER_TEXT_MAX", "HasReceiver", "partner_text", "receipt_may_change", "receipt_sender_refusal"]

PARTNER_TEXT_MAX = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class HasReceiver(Protocol):
    """The original message as the store knows it (a row, a dataclass …): only its receiver matters."""

    @property
    def receiver_ean(self) -> str: ...


def receipt_may_change(original: HasReceiver, sender_ean: str | None) -> bool:
    """True when a receipt sent by `sender_ean` may change `original`: it comes from its receiver."""
    return bool(sender_ean) and original.receiver_ean == sender_ean


def receipt_sender_refusal(envelope: Envelope) -> str | None:
    """Why a classic receipt cannot be from the original's receiver, judged on the receipt alone; None
    when it may be (the store still checks the stored original with :func:`receipt_may_change`).

    The receipt names the original's receiver in OriginalEmessage/OriginalReceiver; it must be the
    receipt's own Sender. Only the caller's own EAN is quoted, never the other value.
    """
    rc = envelope.receipt
    if rc is None:
        return None
    sender = envelope.sender.ean
    if rc.original_receiver_ean is not None and rc.original_receiver_ean != sender:
        return (
            f"kvitteringens afsender {sender} er ikke modtager af den meddelelse, den svarer på: "
            "kun meddelelsens modtager må kvittere for eller afvise den"
        )
    return None


def partner_text(text: str | None) -> str | None:
    """Free text a partner wrote (RefuseText; later a FHIR OperationOutcome's diagnostics) as it may be
    stored and shown: CPR numbers in every written form replaced by ``[cpr]`` (the project's one detector,
    :mod:`notify.cpr`), control characters blanked, at most :data:`PARTNER_TEXT_MAX` characters."""
    if text is None:
        return None
    return redact_cpr(_CONTROL.sub(" ", text))[:PARTNER_TEXT_MAX]
