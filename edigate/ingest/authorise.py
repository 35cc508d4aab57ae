"""Stage: the caller must own every sender of the message (403); an admin token never sends."""

from __future__ import annotations

from edigate.ingest.answers import error
from edigate.ingest.model import RECEIVED_UNAUTHORIZED, Answer, IngestContext
from edigate.ingest.services import IngestServices


async def authorise_sender(s: IngestServices, ctx: IngestContext) -> Answer | None:
    caller, parsed = ctx.caller, ctx.parsed
    assert caller is not None and parsed is not None and parsed.envelope is not None
    senders = {lt.sender.ean for lt in parsed.envelope.letters}
    if not caller.is_admin and not senders <= caller.eans:
        ctx.received = RECEIVED_UNAUTHORIZED
        return error(
            403, f"Sender EAN {', '.join(sorted(s or '?' for s in senders))} is not one of yours", kind="rejected"
        )
    if caller.is_admin:
        return error(403, "an admin token cannot send messages", kind="rejected")
    return None
