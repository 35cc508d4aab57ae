"""Stages around the receiver: a converter may adapt the message to what the receiver takes, then the
receiver must be known and take this standard (a refusal otherwise, answered in the sender's format)."""

from __future__ import annotations

from edigate.ingest.model import Answer, IngestContext
from edigate.ingest.services import IngestServices


async def convert_for_receiver(s: IngestServices, ctx: IngestContext) -> Answer | None:
    """The seam between validation and routing (edigate.ingest.convert); no converter exists yet."""
    parsed = ctx.parsed
    assert parsed is not None
    if ctx.refusal is not None:
        return None
    partner = s.directory.partner(parsed.receiver)
    if partner is None or partner.accepts is None or {parsed.standard, parsed.version} & set(partner.accepts):
        return None
    converted = s.convert(parsed, ctx.body, partner.accepts)
    if converted is not None:
        ctx.parsed, ctx.body = converted
    return None


async def resolve_receiver(s: IngestServices, ctx: IngestContext) -> Answer | None:
    parsed = ctx.parsed
    assert parsed is not None and parsed.envelope is not None
    if ctx.refusal is not None:
        return None
    verdict = s.directory.route(parsed.receiver, parsed.standard, parsed.version, is_receipt=parsed.envelope.is_receipt)
    if not verdict.ok:
        assert ctx.adapter is not None
        ctx.refusal = ctx.adapter.routing_refusal(parsed, verdict.refuse_code or "", verdict.reason or "")
    return None
