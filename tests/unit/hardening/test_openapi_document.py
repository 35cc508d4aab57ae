"""The OpenAPI document itself: loads as OpenAPI 3.1, every reference resolves, ids are unique, and
the served document keeps only the operations whose route the app registered."""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from aiohttp import web

from edigate.web.openapi import OPENAPI_PATH, OPERATIONS, openapi_document, setup_openapi


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_full_document_loads_and_references_resolve() -> None:
    doc = openapi_document()
    assert doc["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(doc)
    ops = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # raises on an invalid operation
    assert len(ops) == len(OPERATIONS)
    names = set(doc["components"]["schemas"])
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in names, ref
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for path in doc["paths"].values():
        for op in path.values():
            assert op["responses"] and op["summary"] and "security" in op


async def ok(request: web.Request) -> web.Response:
    return web.json_response({})


async def test_served_document_lists_only_registered_routes() -> None:
    from aiohttp.test_utils import TestClient, TestServer

    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_post("/api/v1/messages", ok)
    setup_openapi(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(OPENAPI_PATH)
        assert resp.status == 200 and resp.content_type == "application/json"
        doc = json.loads(await resp.text())
    assert set(doc["paths"]) == {"/healthz", "/api/v1/messages", OPENAPI_PATH}
    assert set(doc["paths"]["/api/v1/messages"]) == {"post"}
