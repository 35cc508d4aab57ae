"""Stages: the caller must own every sender of the message (403), an admin token never sends, and a receipt
must come from the receiver of the message it answers."""

from __future__ import annotations

from edigate.ingest.answers import MessageRejected, error, reply
from edigate.ingest.model import RECEIVED_REFUSED, RECEIVED_UNAUTHORIZED, Answer, IngestContext
from edigate.ingest.services import IngestServices
from edigate.store.correlation import receipt_sender_refusal


async def authorise_sender(s: IngestServices, ctx: IngestContext) -> Answer | None:
    caller, parsed = ctx.caller, ctx.parsed
    assert caller is not None and parsed is not None and parsed.envelope is not None
    senders = {lt.sender.ean for lt in parsed.envelope.letters}
    if not caller.is_admin and not senders <= caller.eans:
        ctx.received = RECEIVED_UNAUTHORIZED
        return error(
            403, f"afsenderens EAN {', '.join(sorted(s or '?' for s in senders))} er ikke en af dine", kind="rejected"
        )
    if caller.is_admin:
        return error(403, "en administrators adgangsnøgle kan ikke sende meddelelser", kind="rejected")
    return None


async def authorise_receipt(s: IngestServices, ctx: IngestContext) -> Answer | None:
    """A receipt that names another receiver than its own sender is refused and nothing is stored: a
    receipt from anyone but the original's receiver must change nothing (the store checks it again against
    the stored original)."""
    parsed = ctx.parsed
    assert parsed is not None and parsed.envelope is not None
    if ctx.refusal is not None and ctx.refusal.invalid:
        return None
    forged = receipt_sender_refusal(parsed.envelope)
    if forged is None:
        return None
    ctx.received = RECEIVED_REFUSED
    return reply(422, MessageRejected(status="rejected", reason=forged, refuse_code="ikke_specificeret"))
