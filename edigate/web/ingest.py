"""POST /api/v1/messages: HTTP in, the ingest pipeline (edigate.ingest.pipeline), HTTP out.

202 is sent only after the group-commit COMMIT that made the message durable; when the store cannot
commit the answer is 503, never a false 202.
"""

from __future__ import annotations

from aiohttp import web

from edigate.ingest.model import Answer, IngestRequest
from edigate.ingest.oioxml import xml_text
from edigate.web.keys import INGEST
from edigate.web.storage_trouble import STORAGE_TROUBLE

__all__ = ["post_message", "to_response", "xml_text"]


async def post_message(request: web.Request) -> web.Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    answer = await request.app[INGEST].run(
        IngestRequest(bearer or None, request.content_type, request.content_length, request.read)
    )
    storage_failed = answer.status == 503 and str((answer.json or {}).get("reason", "")).startswith("storage")
    if storage_failed and STORAGE_TROUBLE in request.app:  # the store could not commit
        request.app[STORAGE_TROUBLE].record("store_commit_failed")  # /readyz: not ready for a while
    return to_response(answer)


def to_response(answer: Answer) -> web.Response:
    if answer.json is not None:
        resp = web.json_response(answer.json, status=answer.status)
    else:
        resp = web.Response(body=answer.body or b"", status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        resp.headers[name] = value
    return resp
