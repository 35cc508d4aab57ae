"""Input no database can store never reaches one (issue 10, item 10). On PostgreSQL a NUL byte in a query
parameter, a form field, a JSON member or a confirm/unsubscribe token, and an id >= 2^31, gave 500s (some
without login). Now: 404 in the path, 400 in the query, 422 in a form field or JSON member, with a reason
naming it; never a 500.

The class is covered by walking the served OpenAPI document (every query parameter, path parameter and
documented body member of every operation) and every form on every page (every field, urlencoded and
multipart), against the real service on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_DSN, postgres_reachable
from tests.harness.http import Reply, request
from tests.harness.service import make_service
from tests.integration.hardening.conftest import TOKENS, World, config_text
from tests.integration.notify.test_notify_input import Browser

NUL = "a\x00b"
BIG_IDS = [2**31, 2**31 + 7, 2**63, 10**18 - 1, 10**30]
ROLE_OF = {"/api/v1/mailbox": "receiver", "/api/v1/incidents": "admin", "/api/v1/messages": "admin"}


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The hardened world on a fresh PostgreSQL database (where NUL and int32 overflow raise)."""
    if not postgres_reachable():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432: these faults only exist there")
    name = f"edigate_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    workdir = tmp_path_factory.mktemp("edge")
    svc = make_service(config_text(f"postgresql://postgres@127.0.0.1:5432/{name}", workdir), workdir)
    svc.start()
    try:
        yield World(svc)
    finally:
        svc.stop()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def role_for(path: str) -> str:
    return next((r for prefix, r in ROLE_OF.items() if path.startswith(prefix)), "admin")


def send(world: World, method: str, path: str, body: Any = None, role: str = "admin") -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    return world.call(method, path, data, role=role, content_type="application/json" if data else None)


def assert_refused(reply: Reply, statuses: tuple[int, ...], names: str | None = None) -> None:
    assert reply.status in statuses, reply
    if names is not None and isinstance(reply.body, dict):
        text = json.dumps(reply.body, ensure_ascii=False)
        assert names in text, reply


@pytest.fixture(scope="module")
def document(world: World) -> dict[str, Any]:
    reply = world.call("GET", "/api/v1/openapi.json", role="anonymous")
    assert reply.status == 200
    return dict(reply.body)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def fill_path(world: World, path: str, params: list[dict[str, Any]], override: dict[str, str]) -> str:
    """A real resource for every path parameter (so only the one under test is bad)."""
    values = {"id": str(world.new_incident()) if "/incidents/" in path else "1"}
    values |= {"sender": "5790001382445", "receiver": "5790000198764", "token": "x", "ean": "5790001382445"}
    values |= override
    for p in params:
        path = path.replace("{" + p["name"] + "}", urllib.parse.quote(values[p["name"]], safe=""))
    return path


def test_a_nul_in_any_documented_query_parameter_is_400(world: World, document: dict[str, Any]) -> None:
    tried = 0
    for method, path, op in operations(document):
        params = op.get("parameters", [])
        for p in (p for p in params if p["in"] == "query"):
            target = fill_path(world, path, [q for q in params if q["in"] == "path"], {})
            target += "?" + urllib.parse.urlencode({p["name"]: NUL})
            reply = send(world, method, target, role=role_for(path))
            assert_refused(reply, (400,), p["name"])
            tried += 1
    print(f"query parameters with a NUL: {tried}, all 400")
    assert tried >= 8


def test_a_bad_path_parameter_is_404(world: World, document: dict[str, Any]) -> None:
    tried = 0
    for method, path, op in operations(document):
        path_params = [p for p in op.get("parameters", []) if p["in"] == "path"]
        for p in path_params:
            bad = [NUL, "\x00", "1\x00"]
            if p["schema"].get("type") == "integer":
                bad += [str(i) for i in BIG_IDS]
            for value in bad:
                target = fill_path(world, path, path_params, {p["name"]: value})
                reply = send(world, method, target, role=role_for(path), body={} if method == "POST" else None)
                assert_refused(reply, (400, 404))
                tried += 1
    print(f"path parameters with a NUL or an id >= 2^31: {tried}, all 400/404")
    assert tried >= 40


def bad_bodies(schema: dict[str, Any], components: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(field, body) with a NUL in one documented member, string or list of strings, nested included."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "string" or "enum" in prop:
            yield name, {name: NUL}
        elif prop.get("type") == "array":
            yield name, {name: ["ok", NUL]}
        elif prop.get("type") == "object":
            for inner, body in bad_bodies(prop, components):
                yield f"{name}.{inner}", {name: body}
    yield "(key)", {NUL: "x"}


def test_a_nul_in_any_documented_body_member_is_422(world: World, document: dict[str, Any]) -> None:
    tried = 0
    components = document["components"]["schemas"]
    for method, path, op in operations(document):
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        for field, body in bad_bodies(content["application/json"]["schema"], components):
            target = fill_path(world, path, [p for p in op.get("parameters", []) if p["in"] == "path"], {})
            reply = send(world, method, target, body=body, role=role_for(path))
            assert_refused(reply, (422,), field.split(".")[0] if field != "(key)" else None)
            tried += 1
    print(f"JSON body members with a NUL: {tried}, all 422")
    assert tried >= 15


class Forms(HTMLParser):
    """The forms of a page: action and fields (name -> first value), as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self.forms.append((a.get("action", ""), {}))
        elif tag in ("input", "textarea", "select") and self.forms and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and a["name"] in self.forms[-1][1]:
                return
            self.forms[-1][1].setdefault(a["name"], a.get("value", "x"))


def page_forms(b: Browser, path: str) -> list[tuple[str, dict[str, str]]]:
    status, page, _ = b.get(path)
    assert status == 200, (path, status)
    parser = Forms()
    parser.feed(page)
    return [(action, fields) for action, fields in parser.forms if action != "/logout"]


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "edge" + uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post_form(b: Browser, action: str, fields: dict[str, str], *, as_multipart: bool) -> int:
    if as_multipart:
        data, ctype = multipart(fields)
        req = urllib.request.Request(b.base + action, data=data, method="POST", headers={"Content-Type": ctype})
        return b._open(req)[0]
    return b.post(action, list(fields.items()))[0]


def test_a_nul_in_any_form_field_of_any_page_is_4xx(world: World) -> None:
    incident = world.new_incident()
    world.new_subscription()
    admin = Browser(world.url)
    admin.login(TOKENS["admin"] or "")
    pages = ["/incidents/new", f"/incidents/{incident}", "/subscriptions/new", "/admin/subscriptions"]
    forms = [form for page in pages for form in page_forms(admin, page)]
    forms += page_forms(Browser(world.url), "/login")
    assert {a for a, _ in forms} >= {"/login", "/incidents/new", "/subscriptions/new", "/admin/subscriptions"}
    tried = 0
    for action, fields in forms:
        for name in fields:
            for as_multipart in (False, True):
                client = admin if action != "/login" else Browser(world.url)
                if action == "/login":
                    fields = page_forms(client, "/login")[0][1]  # this client's own CSRF token
                status = post_form(client, action, {**fields, name: NUL}, as_multipart=as_multipart)
                assert status in (400, 403, 404, 422), (action, name, as_multipart, status)
                tried += 1
    print(f"form fields with a NUL: {tried} posts over {len(forms)} forms, all 4xx")
    assert tried >= 40


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/subscriptions/confirm/a%00b"),
        ("GET", "/api/v1/subscriptions/confirm/%00"),
        ("GET", "/subscriptions/unsubscribe/a%00b"),
        ("POST", "/subscriptions/unsubscribe/a%00b"),
        ("GET", f"/api/v1/incidents/{2**31}"),
        ("POST", f"/api/v1/incidents/{2**31}/resolve"),
        ("DELETE", f"/api/v1/subscriptions/{2**31}"),
    ],
)
def test_tokens_and_ids_without_login_are_404(world: World, method: str, path: str) -> None:
    reply = request(
        world.url + path,
        method,
        b"{}" if method == "POST" else None,
        token=TOKENS["admin"],
        headers={"Content-Type": "application/json"} if method == "POST" else {},
    )
    assert reply.status == 404, (path, reply)


def test_pages_with_huge_or_odd_ids_are_404_when_logged_in(world: World) -> None:
    admin = Browser(world.url)
    admin.login(TOKENS["admin"] or "")
    for path in (f"/incidents/{2**31}", "/incidents/%C2%B2", f"/incidents/{10**10}"):  # ² is a digit to isdigit
        assert admin.get(path)[0] == 404, path
    _, page, _ = admin.get(f"/incidents/{world.new_incident()}")
    status, _, _ = admin.post(f"/incidents/{2**31}/resolve", [("csrf", admin.csrf(page)), ("text", "x")])
    assert status == 404
    _, page, _ = admin.get("/admin/subscriptions")
    status, _, _ = admin.post("/admin/subscriptions", [("csrf", admin.csrf(page)), ("remove", str(2**31))])
    assert status == 404


def test_no_traceback_in_the_log(world: World) -> None:
    log = world.service.log_text()
    assert "request_failed" not in log and "Traceback" not in log, re.findall(r".*(?:request_failed|Error).*", log)[:5]
