"""Stage: the bearer token -> the caller (401 without one that is known)."""

from __future__ import annotations

from edigate.ingest.answers import ApiError, reply
from edigate.ingest.model import RECEIVED_UNAUTHORIZED, Answer, IngestContext
from edigate.ingest.services import IngestServices


async def authenticate(s: IngestServices, ctx: IngestContext) -> Answer | None:
    ctx.caller = s.directory.authenticate(ctx.request.authorization)
    if ctx.caller is None:
        ctx.received = RECEIVED_UNAUTHORIZED
        return reply(
            401,
            ApiError(status="error", reason="manglende eller ukendt adgangsnøgle (Bearer-token)"),
            headers={"WWW-Authenticate": 'Bearer realm="edigate"'},
        )
    return None
