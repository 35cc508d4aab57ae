"""Bearer tokens -> the caller (partner, client or admin)."""

from __future__ import annotations

from aiohttp import web

from edigate.routing import Caller
from edigate.web.errors import error
from edigate.web.keys import DIRECTORY


def caller_of(request: web.Request) -> Caller | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return request.app[DIRECTORY].authenticate(token.strip())


def unauthorized() -> web.Response:
    resp = error(401, "manglende eller ukendt adgangsnøgle (Bearer-token)")
    resp.headers["WWW-Authenticate"] = 'Bearer realm="edigate"'
    return resp
