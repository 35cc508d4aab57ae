"""The OpenAPI document, generated from the operation table and the response models: a valid OpenAPI 3.1
document (openapi-spec-validator and schemathesis' loader), every reference resolves, every `/api/` route of
the built app is documented and every documented operation is routed, and the handlers' bodies are the
models the document names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from edigate.app import build_app
from edigate.ingest.answers import ApiError, MessageAccepted, MessageRejected
from edigate.settings import load_settings
from edigate.web.apispec import OperationSpec
from edigate.web.openapi import (
    API_OPERATIONS,
    OPENAPI_PATH,
    openapi_document,
    registered_routes,
    undocumented_api_routes,
    unregistered_operations,
)
from edigate.web.responses import MessageList, Ready
from tests.harness import config
from tests.harness.eans import HOSPITAL, MUNICIPALITY

ADMIN_TOKEN = "openapi-admin-token"


def write_config(tmp_path: Path, *, with_notify: bool) -> Path:
    text = (
        config.base(config.sqlite_url(tmp_path / "gw.db"), "admin", ADMIN_TOKEN)
        + config.partner(HOSPITAL, "OUH", "hospital", "Fyn", config.MAILBOX_DELIVERY, token="hospital-token")
        + config.partner(MUNICIPALITY, "Odense", "municipality", "Fyn", config.MAILBOX_DELIVERY)
    )
    if with_notify:
        text += config.notify(config.directory_mail(tmp_path / "mails"), edi_support_email="edi@example.org")
    path = tmp_path / "edigate.toml"
    path.write_text(text.replace("{port}", "8099"), encoding="utf-8")
    return path


@pytest.fixture(params=[True, False], ids=["with-notify", "gateway-only"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> web.Application:
    return build_app(load_settings(write_config(tmp_path, with_notify=request.param)))


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def document_of(app: web.Application) -> dict[str, Any]:
    operations: tuple[OperationSpec, ...] = app[API_OPERATIONS]
    return openapi_document(operations)


def test_the_document_is_valid_openapi_31(app: web.Application) -> None:
    doc = document_of(app)
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator: raises on anything that is not OpenAPI 3.1
    schema = schemathesis.openapi.from_dict(doc)
    ops = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]  # raises on an invalid operation
    assert len(ops) == len(app[API_OPERATIONS])
    names = set(doc["components"]["schemas"])
    for ref in refs(doc):
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in names, ref
    ids = [op["operationId"] for path in doc["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for path in doc["paths"].values():
        for op in path.values():
            assert op["responses"] and op["summary"] and "security" in op


def test_every_api_route_is_documented_and_every_operation_routed(app: web.Application) -> None:
    assert not undocumented_api_routes(app)
    assert not unregistered_operations(app)
    api_routes = {r for r in registered_routes(app) if r[1].startswith("/api/")}
    assert len(api_routes) >= 8


def test_a_route_added_outside_the_table_is_caught(tmp_path: Path) -> None:
    """The check above can fail: an /api/ route registered by hand is reported."""
    app = build_app(load_settings(write_config(tmp_path, with_notify=False)))

    async def stray(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/v1/stray", stray)
    assert undocumented_api_routes(app) == {("get", "/api/v1/stray")}


def test_without_notify_no_incidents_are_advertised(tmp_path: Path) -> None:
    app = build_app(load_settings(write_config(tmp_path, with_notify=False)))
    paths = set(document_of(app)["paths"])
    assert "/api/v1/messages" in paths and OPENAPI_PATH in paths
    assert not any(p.startswith(("/api/v1/incidents", "/api/v1/subscriptions")) for p in paths)


def test_the_served_lists_get_this_installations_codes(tmp_path: Path) -> None:
    app = build_app(load_settings(write_config(tmp_path, with_notify=True)))

    async def served() -> dict[str, Any]:
        async with TestClient(TestServer(app)) as client:
            resp = await client.get(OPENAPI_PATH)
            assert resp.status == 200 and resp.content_type == "application/json"
            return dict(json.loads(await resp.text()))

    import asyncio

    doc = asyncio.run(served())
    organisations = doc["components"]["schemas"]["SubscriptionInput"]["properties"]["organisations"]
    assert organisations["anyOf"][0]["items"]["enum"] == sorted([HOSPITAL, MUNICIPALITY])
    types = doc["components"]["schemas"]["IncidentInput"]["properties"]["affected_messages"]
    assert "XDIS91" in types["anyOf"][0]["items"]["enum"]


@pytest.mark.parametrize(
    ("path", "method", "status", "model"),
    [
        ("/api/v1/messages", "post", "202", MessageAccepted),
        ("/api/v1/messages", "post", "422", MessageRejected),
        ("/api/v1/messages", "post", "401", ApiError),
        ("/api/v1/messages", "get", "200", MessageList),
        ("/readyz", "get", "503", Ready),
    ],
)
def test_answers_name_the_models_the_handlers_build(
    app: web.Application, path: str, method: str, status: str, model: type
) -> None:
    doc = document_of(app)
    content = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    assert content == {"$ref": f"#/components/schemas/{model.__name__}"}


def test_an_optional_member_left_unset_is_absent_and_none_is_null() -> None:
    """The models keep the old JSON shapes: a member a handler does not set is not in the body."""
    accepted = MessageAccepted(id=1, status="accepted", type="XDIS91", envelope_id="E1", letters=["L1"])
    assert accepted.as_json() == {
        "id": 1,
        "status": "accepted",
        "type": "XDIS91",
        "envelope_id": "E1",
        "letters": ["L1"],
    }
    rejected = MessageRejected(status="rejected", refuse_code="syntaksfejl", receipt=None)
    assert rejected.as_json() == {"status": "rejected", "refuse_code": "syntaksfejl", "receipt": None}
