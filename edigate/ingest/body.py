"""Stage: read the body, after checking what the request declares (content type 415, length 413)."""

from __future__ import annotations

from edigate.ingest.answers import error
from edigate.ingest.model import RECEIVED_REFUSED, Answer, IngestContext
from edigate.ingest.services import IngestServices


async def read_body(s: IngestServices, ctx: IngestContext) -> Answer | None:
    req = ctx.request
    allowed = s.content_types()
    if req.content_type not in allowed:
        ctx.received = RECEIVED_REFUSED
        return error(415, f"Content-Type skal være {_one_of(allowed)}, ikke {req.content_type!r}", kind="rejected")
    if req.content_length is not None and req.content_length > s.max_body_bytes:
        ctx.received = RECEIVED_REFUSED
        return error(413, f"meddelelsen er for stor: grænsen er {s.max_body_bytes} bytes", kind="rejected")
    ctx.body = await req.read_body()  # aiohttp enforces client_max_size for chunked bodies (-> 413)
    return None


def _one_of(types: tuple[str, ...]) -> str:
    return types[0] if len(types) == 1 else ", ".join(types[:-1]) + " eller " + types[-1]
