"""Stages: build what the store keeps (with the negative answer for a refusal), then accept it durably.

The duplicate check runs inside the store's commit (edigate.store.ingest.apply_batch): deciding it in a
separate read would let two concurrent resends both pass it. The answer waits for the COMMIT; when the
store cannot commit it is 503, never a false 202.
"""

from __future__ import annotations

from edigate.ingest.answers import error
from edigate.ingest.model import (
    RECEIVED_ACCEPTED,
    RECEIVED_DUPLICATE,
    RECEIVED_ERROR,
    RECEIVED_INVALID,
    RECEIVED_REFUSED,
    Answer,
    IngestContext,
)
from edigate.ingest.services import IngestServices
from edigate.store.group_commit import StorageUnavailable
from edigate.store.model import IngestItem

_RECEIVED = {"accepted": RECEIVED_ACCEPTED, "duplicate": RECEIVED_DUPLICATE, "conflict": RECEIVED_REFUSED}


async def build_item(s: IngestServices, ctx: IngestContext) -> Answer | None:
    parsed, refusal = ctx.parsed, ctx.refusal
    assert parsed is not None and parsed.envelope is not None
    if refusal is None:
        ctx.item = IngestItem(parsed.envelope, ctx.body, format=parsed.format)
        return None
    assert ctx.adapter is not None
    ctx.negative = ctx.adapter.negative(parsed, refusal, s.clock())
    ctx.item = IngestItem(
        parsed.envelope,
        ctx.body,
        rejected=True,
        refuse_code=refusal.code,
        refuse_text=refusal.text or refusal.code,
        receipt=ctx.negative,
        format=parsed.format,
    )
    return None


async def durable_accept(s: IngestServices, ctx: IngestContext) -> Answer | None:
    assert ctx.item is not None
    try:
        outcome = await s.store.accept(ctx.item)
    except StorageUnavailable:
        ctx.received = RECEIVED_ERROR
        return error(503, "storage unavailable: the message was NOT accepted, send it again later")
    ctx.outcome = outcome
    received = _RECEIVED.get(outcome.kind)
    if received is None:  # rejected: invalid, or refused by routing
        received = RECEIVED_INVALID if ctx.refusal is not None and ctx.refusal.invalid else RECEIVED_REFUSED
    ctx.received = received
    if outcome.woken:
        s.wake(outcome.woken)
    return None


async def answer(s: IngestServices, ctx: IngestContext) -> Answer | None:
    assert ctx.adapter is not None
    return ctx.adapter.answer(ctx)
