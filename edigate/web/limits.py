"""A deadline for reading request bodies: a slow-drip client gets 408 instead of holding a request forever.

aiohttp has no body read timeout of its own (its keep-alive timeout only covers idle connections), so a
client that sends one byte a minute keeps its handler, its buffer and its connection for as long as it
likes. This middleware reads the body of every request that has one within
`server.body_read_timeout_seconds` (default 30) before the handler runs; aiohttp caches what it read, so
`request.read()`, `.json()`, `.text()` and `.post()` in the handlers return at once. Multipart forms
to pages (the outage form's login and subscription pages accept them) are parsed here with
`request.post()` under the same deadline, since aiohttp parses them from the stream, not from read bytes. The size
limit (`client_max_size`, 413) still applies while reading.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from edigate.web.errors import error

log = structlog.get_logger()

DEFAULT_BODY_READ_TIMEOUT = 30.0
_TIMEOUT = web.AppKey("edigate.body_read_timeout", float)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def body_deadline(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in _BODY_METHODS and request.body_exists:
        limit = request.client_max_size
        if limit and request.content_length is not None and request.content_length > limit:
            resp = error(413, f"meddelelsen er for stor: grænsen er {limit} bytes", kind="rejected")
            resp.force_close()  # do not read what was announced
            return resp
        timeout = request.app.get(_TIMEOUT, DEFAULT_BODY_READ_TIMEOUT)
        # Pages parse multipart forms from the stream, so the parse itself is what must finish in time.
        # API routes take no forms (they refuse multipart by its content type): their bytes are just read.
        multipart = request.content_type.startswith("multipart/") and not request.path.startswith("/api/")
        try:
            await asyncio.wait_for(request.post() if multipart else request.read(), timeout)
        except ValueError:  # a multipart body that does not parse (no boundary, broken part headers)
            resp = error(400, "formularens indhold (multipart) kunne ikke læses", kind="rejected")
            resp.force_close()
            return resp
        except web.HTTPRequestEntityTooLarge:  # chunked or gzip-inflated past client_max_size
            resp = error(413, f"meddelelsen er for stor: grænsen er {limit} bytes", kind="rejected")
            resp.force_close()
            return resp
        except TimeoutError:
            log.warning("request_body_timeout", path=request.path, timeout_seconds=timeout)
            resp = error(408, f"forespørgslens indhold kom ikke inden for {timeout:g} sekunder", kind="rejected")
            resp.force_close()
            return resp
    return await handler(request)


def setup_request_limits(app: web.Application, body_read_timeout_seconds: float | None = None) -> None:
    """Add the body deadline; call in build_app before the app starts (middlewares freeze at start)."""
    timeout = DEFAULT_BODY_READ_TIMEOUT if body_read_timeout_seconds is None else body_read_timeout_seconds
    if timeout <= 0:
        raise ValueError("server.body_read_timeout_seconds: must be positive")
    app[_TIMEOUT] = float(timeout)
    app.middlewares.append(body_deadline)
