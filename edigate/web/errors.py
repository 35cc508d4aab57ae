"""JSON error bodies for the API: `{"status": "rejected" | "error", "reason": ...}`, never a traceback."""

from __future__ import annotations

from typing import Literal

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from edigate.web.keys import SETTINGS
from edigate.web.responses import error_reply

log = structlog.get_logger()

JSON_PREFIXES = ("/api/", "/healthz", "/readyz")


def error(status: int, reason: str, *, kind: Literal["error", "rejected"] = "error") -> web.Response:
    """The gateway's error body (`edigate.ingest.answers.ApiError`)."""
    return error_reply(status, reason, kind=kind)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn aiohttp's HTTP errors and unexpected exceptions on API paths into JSON bodies."""
    if not request.path.startswith(JSON_PREFIXES):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        limit = request.app[SETTINGS].server.max_body_bytes  # aiohttp's client_max_size
        return error(413, f"meddelelsen er for stor: grænsen er {limit} bytes", kind="rejected")
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        reason = {404: "not found", 405: "method not allowed"}.get(exc.status, exc.reason)
        resp = error(exc.status, reason)
        for name in ("Allow", "WWW-Authenticate", "Retry-After"):  # 405 must say what is allowed
            if name in exc.headers:
                resp.headers[name] = exc.headers[name]
        return resp
    except Exception as exc:
        log.error("request_failed", path=request.path, error=type(exc).__name__)
        return error(500, "intern fejl")
