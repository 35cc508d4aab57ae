"""Stage: the format adapter reads and validates the body (422 when it cannot even be answered)."""

from __future__ import annotations

from edigate.ingest.model import RECEIVED_ERROR, RECEIVED_INVALID, Answer, IngestContext, Parsed
from edigate.ingest.services import IngestServices


async def parse_and_validate(s: IngestServices, ctx: IngestContext) -> Answer | None:
    adapter = ctx.adapter
    assert adapter is not None
    result = await adapter.parse(ctx.body, ctx.request.content_type)
    if not isinstance(result, Parsed):  # the format cannot be judged now (schema or validator missing)
        ctx.received = RECEIVED_ERROR
        return result
    ctx.parsed = result
    if result.envelope is None:
        ctx.received = RECEIVED_INVALID
        return adapter.unreadable(ctx)
    ctx.refusal = result.refusal
    return None
