"""The OpenAPI 3.1 document of the API, generated from the operation table, served at
`GET /api/v1/openapi.json`.

Nothing here is written by hand: each operation (`edigate.web.apispec.Operation`, or notify's own
declaration of the same shape) names its method, path, security, parameters, request body and answers,
and the bodies are pydantic models whose JSON Schemas become `components/schemas`. The gateway registers
its aiohttp routes from the same table, and the app's table is the document: a service without `[notify]`
passes no notify operations, so it does not advertise incidents.

Schemas may mark a list's items with `x-enum-from: <name>`; the document fills in `enum` from the app's
own values (the catalogue's type codes, the partners' EANs, the health clusters).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue, models_json_schema
from pydantic_core import CoreSchema, core_schema

from edigate.web.apispec import JSON, Content, Operation, OperationSpec, Security, register, reply

OPENAPI_PATH = "/api/v1/openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"

#: the operations this app serves (the gateway's, notify's when configured, and this document's)
API_OPERATIONS: web.AppKey[tuple[OperationSpec, ...]] = web.AppKey("edigate.api_operations")
#: (METHOD, aiohttp canonical path) -> the query parameters the document names for it (edigate.web.edge_input)
QUERY_PARAMETERS: web.AppKey[Mapping[tuple[str, str], frozenset[str]]] = web.AppKey("edigate.query_parameters")
#: values for `x-enum-from` (see the module docstring)
ENUM_VALUES: web.AppKey[Mapping[str, Sequence[str]]] = web.AppKey("edigate.openapi_enum_values")
_DOC: web.AppKey[dict[str, bytes]] = web.AppKey("edigate.openapi_document")  # filled on first request

_SECURITY: dict[Security, list[dict[str, list[str]]]] = {
    "bearer": [{"bearer": []}],
    "none": [{}],
    "optional": [{}, {"bearer": []}],
}
INFO = {
    "title": "edigate API",
    "version": "1",
    "description": "MedCom message gateway between Danish hospitals and municipalities, with the EDI outage "
    "procedure. Errors are JSON: gateway `{status, reason}`, outage procedure `{fejl}`. Generated from the "
    "server's operation table and the pydantic models its handlers answer with.",
}


class _Schemas(GenerateJsonSchema):
    """pydantic's JSON Schemas without what says nothing to a client: a title per field (the name says it)
    and `default: null` of an optional member (absent or null is the same to the server)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", ...) is None:
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: CoreSchema) -> bool:
        return False


def _models(operations: Sequence[OperationSpec]) -> Iterator[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every model of the table: request bodies as validated, answers as serialised."""
    for op in operations:
        for content in op.body.values():
            if isinstance(content, type):
                yield content, "validation"
        for answer in op.responses.values():
            for content in answer.content.values():
                if isinstance(content, type):
                    yield content, "serialization"


def _fill_enums(node: Any, values: Mapping[str, Sequence[str]]) -> Any:
    if isinstance(node, dict):
        out = {k: _fill_enums(v, values) for k, v in node.items()}
        source = node.get("x-enum-from")
        if isinstance(source, str) and source in values:
            out["enum"] = list(values[source])
        return out
    if isinstance(node, list):
        return [_fill_enums(v, values) for v in node]
    return node


def openapi_document(
    operations: Sequence[OperationSpec], enum_values: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `operations`, with the JSON Schemas of their models as components."""
    wanted = list(dict.fromkeys(_models(operations)))
    refs, top = models_json_schema(wanted, ref_template=REF_TEMPLATE, schema_generator=_Schemas)
    schemas: dict[str, Any] = dict(top.get("$defs", {}))

    def schema_of(content: Content, mode: JsonSchemaMode) -> dict[str, Any]:
        if isinstance(content, type):
            return dict(refs[(content, mode)])
        return dict(content)

    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        item: dict[str, Any] = {
            "operationId": op.operation_id,
            "summary": op.summary,
            "tags": [op.tag],
            "security": _SECURITY[op.security],
        }
        if op.parameters:
            item["parameters"] = [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.where == "path",
                    "schema": dict(p.schema),
                    "description": p.description,
                }
                for p in op.parameters
            ]
        if op.body:
            item["requestBody"] = {
                "required": True,
                "content": {media: {"schema": schema_of(c, "validation")} for media, c in op.body.items()},
            }
        responses: dict[str, Any] = {}
        for status, answer in sorted(op.responses.items()):
            entry: dict[str, Any] = {"description": answer.description}
            if answer.content:
                entry["content"] = {
                    media: {"schema": schema_of(c, "serialization")} for media, c in answer.content.items()
                }
            responses[str(status)] = entry
        item["responses"] = responses
        if op.method.lower() in paths.get(op.path, {}):
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice")
        paths.setdefault(op.path, {})[op.method.lower()] = item
    document = {
        "openapi": "3.1.0",
        "info": INFO,
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }
    return _fill_enums(document, enum_values or {})  # type: ignore[no-any-return]


def registered_routes(app: web.Application) -> set[tuple[str, str]]:
    """(lower-case method, canonical path) of every route the app registered."""
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        out.add((route.method.lower(), resource.canonical))
    return out


def documented_routes(app: web.Application) -> set[tuple[str, str]]:
    """(lower-case method, aiohttp canonical path) of every operation in the app's document."""
    return {(op.method.lower(), op.route) for op in app.get(API_OPERATIONS, ())}


def undocumented_api_routes(app: web.Application) -> set[tuple[str, str]]:
    """Registered `/api/` routes the document does not describe (should be empty)."""
    have = documented_routes(app)
    return {
        (method, path)
        for method, path in registered_routes(app)
        if path.startswith("/api/") and (method, path) not in have and ("*", path) not in have
    }


def unregistered_operations(app: web.Application) -> set[tuple[str, str]]:
    """Documented operations the app has no route for (should be empty)."""
    have = registered_routes(app)
    return {(m, r) for m, r in documented_routes(app) if (m, r) not in have and ("*", r) not in have}


async def serve_openapi(request: web.Request) -> web.Response:
    cache = request.app[_DOC]
    if "doc" not in cache:  # built once, on first use
        operations: tuple[OperationSpec, ...] = request.app[API_OPERATIONS]
        doc = openapi_document(operations, request.app.get(ENUM_VALUES))
        cache["doc"] = json.dumps(doc, indent=1).encode()
    return web.Response(body=cache["doc"], content_type=JSON, headers={"Cache-Control": "no-cache"})


OPERATION = Operation(
    "get",
    OPENAPI_PATH,
    "openapi",
    "This document",
    "health",
    "none",
    {200: reply("OpenAPI 3.1.", {"type": "object"})},
    serve_openapi,
)


def query_parameters(operations: Sequence[OperationSpec]) -> dict[tuple[str, str], frozenset[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for op in operations:
        names = {p.name for p in op.parameters if p.where == "query"}
        out.setdefault((op.method.upper(), op.route), set()).update(names)
    return {key: frozenset(names) for key, names in out.items()}


def setup_openapi(
    app: web.Application,
    operations: Sequence[OperationSpec],
    enum_values: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Serve the document of `operations` (and of itself) at `/api/v1/openapi.json` (no token needed: it
    holds no data). The gateway's operations register their routes themselves; this registers its own."""
    table: tuple[OperationSpec, ...] = (*operations, OPERATION)
    app[API_OPERATIONS] = table
    app[QUERY_PARAMETERS] = query_parameters(table)
    if enum_values is not None:
        app[ENUM_VALUES] = enum_values
    app[_DOC] = {}
    register(app, [OPERATION])
