"""Refuse, before any handler runs, characters no database can store: NUL (PostgreSQL text cannot hold
U+0000; the driver raises and the request would end in a 500) and lone surrogates (not encodable as
UTF-8), wherever a client can put them: the path (ids, confirm and unsubscribe tokens), the query, form
fields (urlencoded and multipart) and JSON bodies.

Answers: a path with one is 404 (no such resource can exist), a query parameter 400, a form field or JSON
member 422; the reason names the parameter or field. A query parameter the OpenAPI document does not name
for an API operation is a 400 too (a misspelt filter must not answer as if there were none); its name is
not echoed (it could be anything a user typed). API paths get JSON that fits both documented error
bodies (`status`/`reason` of the gateway, `fejl`/`felter` of the outage procedure); pages get Danish text.
Runs after the body deadline (`edigate.web.limits`), so reading a body here is already bounded in time;
the body stays cached for the handler.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from edigate.web.openapi import QUERY_PARAMETERS
from edigate.web.responses import RefusedAtTheEdge, json_reply

#: NUL and the UTF-16 surrogate range (a JSON "\\ud800" without its pair decodes to one of these)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


def unstorable(text: str) -> bool:
    return UNSTORABLE.search(text) is not None


def _shown(name: str) -> str:
    """A parameter or field name fit to print: the bad characters themselves are not echoed."""
    return UNSTORABLE.sub("?", name)[:100]


def json_field_with(value: Any, path: str = "") -> str | None:
    """The dotted path of the first member (or key) of a JSON value holding an unstorable character."""
    if isinstance(value, str):
        return (path or "(body)") if unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if unstorable(str(key)):
                return _shown(here)
            found = json_field_with(item, here)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = json_field_with(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _refuse(request: web.Request, status: int, reason: str, danish: str, field: str | None = None) -> web.Response:
    if request.path.startswith("/api/") and not unstorable(request.path):
        body = RefusedAtTheEdge(status="rejected", reason=reason, fejl=danish)
        if field:
            body = RefusedAtTheEdge(status="rejected", reason=reason, fejl=danish, felter={field: danish})
        return json_reply(body, status)
    return web.Response(text=danish, status=status, content_type="text/plain", charset="utf-8")


async def _form_field_with(request: web.Request) -> str | None:
    form = await request.post()
    for key, value in form.items():
        if unstorable(key):
            return _shown(key)
        if isinstance(value, str) and unstorable(value):
            return _shown(key)
        if isinstance(value, web.FileField) and unstorable(value.filename or ""):
            return _shown(key)
    return None


def unknown_query_parameters(request: web.Request) -> tuple[set[str], frozenset[str]] | None:
    """For a documented API route: the query parameters the document does not name, and those it does."""
    if not request.query or not request.path.startswith("/api/"):
        return None
    documented = request.app.get(QUERY_PARAMETERS, {})  # (METHOD, route) -> names, from the operation table
    resource = request.match_info.route.resource
    method = "GET" if request.method == "HEAD" else request.method
    known = documented.get((method, resource.canonical)) if resource is not None else None
    if known is None:
        return None  # not in the document (the roles walk keeps API routes documented)
    unknown = set(request.query) - known
    return (unknown, known) if unknown else None


@web.middleware
async def edge_input(request: web.Request, handler: Handler) -> web.StreamResponse:
    if unstorable(request.path):
        return _refuse(request, 404, "not found", "Siden findes ikke.")
    unknown = unknown_query_parameters(request)
    if unknown is not None:  # a misspelt filter must not silently answer as if there were none
        names, known = unknown
        listed = ", ".join(sorted(known)) or "none"
        return _refuse(
            request,
            400,
            f"unknown query parameter ({len(names)}); this operation knows: {listed}",
            f"Ukendt parameter i forespørgslen ({len(names)}); kendte: {listed}.",
        )
    for key, value in request.query.items():
        if unstorable(key) or unstorable(value):
            name = _shown(key)
            return _refuse(
                request,
                400,
                f"query parameter {name!r} holds a NUL or an invalid character",
                f"Parameteren »{name}« indeholder et ugyldigt tegn (NUL).",
            )
    if request.method in _BODY_METHODS and request.body_exists:
        field: str | None = None
        if request.content_type == "application/json":
            try:
                field = json_field_with(json.loads(await request.read()))
            except (ValueError, UnicodeDecodeError):
                field = None  # not JSON: the handler answers that
        elif request.content_type in _FORMS and not request.path.startswith("/api/"):  # API: no forms
            try:
                field = await _form_field_with(request)
            except ValueError:  # a broken multipart body
                return _refuse(request, 400, "malformed form body", "Formularen kunne ikke læses.")
        if field:
            return _refuse(
                request,
                422,
                f"field {field!r} holds a NUL or an invalid character",
                f"Feltet »{field}« indeholder et ugyldigt tegn (NUL). Fjern det og prøv igen.",
                field,
            )
    return await handler(request)


def setup_edge_input(app: web.Application) -> None:
    """Add the check; call after `setup_request_limits`, so bodies are read under their deadline."""
    app.middlewares.append(edge_input)
