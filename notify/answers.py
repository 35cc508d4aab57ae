"""The headers and JSON error answers every notify page and API handler shares (one place, so the directory
pages and the main pages cannot drift apart, and neither imports the other)."""

from __future__ import annotations

import json

from aiohttp import web

from notify.api_doc import NotifyError

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
JSON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def json_error(
    status: int, message: str, *, fields: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> web.HTTPException:
    body = NotifyError(fejl=message, felter=fields) if fields else NotifyError(fejl=message)
    exc_class = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        422: web.HTTPUnprocessableEntity,
        429: web.HTTPTooManyRequests,
    }[status]
    return exc_class(
        text=json.dumps(body.as_json(), ensure_ascii=False),
        content_type="application/json",
        headers={**JSON_HEADERS, **(headers or {})},
    )
