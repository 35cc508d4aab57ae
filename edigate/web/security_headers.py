"""Security headers on every answer of the service, in one place: the gateway's pages (`/routes`), the
outage procedure's pages, the APIs, and the answers aiohttp or a middleware makes itself (404, 405, 408,
413 …). A handler that sets one of these headers itself keeps its own value.

A response-prepare hook rather than a middleware: a middleware sees only what passes through it, while
this hook runs for every response the app sends, including those made before or around the handler.
"""

from __future__ import annotations

from aiohttp import web

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


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def setup_security_headers(app: web.Application) -> None:
    app.on_response_prepare.append(add_security_headers)
