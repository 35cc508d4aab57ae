"""schemathesis against the real running service, from its OpenAPI 3.1 document: never a 5xx.

Every documented operation gets a bounded number of generated requests (MAX_EXAMPLES valid ones and
MAX_EXAMPLES invalid ones), sent with the token of a role that may call it, so generation reaches the
handlers' validation instead of stopping at 401. Uses schemathesis' Python API (`as_strategy`) with
hypothesis directly; its lazy pytest plugin does not run under pytest 9.
"""

from __future__ import annotations

import itertools
import re
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
import schemathesis.specs.openapi.checks
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.specs.openapi.checks import positive_data_acceptance

from edigate.web import health_api, mailbox, messages_api, openapi, routes_api
from edigate.web import ingest as ingest_web
from notify import api_doc
from tests.harness.http import request
from tests.integration.hardening.conftest import TOKENS, World, api_document

MAX_EXAMPLES = 25
#: every check schemathesis has: never a 5xx; documented status, content type, headers and body; invalid
#: data refused, valid data accepted, auth not ignored, Allow on 405 … (`positive_data_acceptance` is run
#: as `assert_valid_data_accepted` below: a 422 for schema-valid data is allowed only for members the
#: document marks with `x-server-rules`, the rules JSON Schema cannot state)
CHECKS = REGISTERED_CHECKS.get_all()
STATUSES: Counter[str] = Counter()
ACCEPTED = {200, 201, 202, 204, 401, 403, 404, 409, 429}
#: (method, path) of every operation of the test world's app (the gateway's, notify's and the document's)
OPERATIONS = {
    (op.method, op.path)
    for ops in (
        ingest_web.OPERATIONS,
        messages_api.OPERATIONS,
        mailbox.OPERATIONS,
        health_api.OPERATIONS,
        routes_api.OPERATIONS,
        api_doc.OPERATIONS,
        (openapi.OPERATION,),
    )
    for op in ops
}

# which roles' tokens generated requests carry, per path prefix (cycled request by request)
ROLE_CYCLE = {
    "/api/v1/messages": ("sender", "admin", "receiver"),
    "/api/v1/mailbox": ("receiver", "sender"),
    "/api/v1/incidents": ("reporter", "admin"),
    "/api/v1/subscriptions": ("admin", "reporter", "anonymous"),
    "/api/v1/routes": ("admin", "sender"),
}


@pytest.fixture(scope="module")
def api_schema(world: World) -> Any:
    schema = schemathesis.openapi.from_dict(api_document(world))
    # a NUL is refused everywhere by edigate.web.edge_input (the document says so; the class is covered by
    # tests/integration/hardening/test_edge_input.py), so generated valid data carries none
    schema.config.generation.update(allow_x00=False)
    return schema


def server_ruled_fields(schema: Any, prefix: str = "", components: Any = None) -> set[str]:
    """The server's field names (`contact_email` for contact.email) of members marked `x-server-rules`
    (a member that is an object of its own may be a reference to its schema in `components`)."""
    out: set[str] = set()
    for name, prop in (schema or {}).get("properties", {}).items():
        if "$ref" in prop and components is not None:
            prop = components.get(prop["$ref"].rsplit("/", 1)[-1], {})
        if "x-server-rules" in str(prop):
            out.add(prefix + name)
        if prop.get("type") == "object":
            out |= server_ruled_fields(prop, f"{prefix}{name}_", components)
    return out


def assert_valid_data_accepted(op: Any, document: dict[str, Any], response: Any) -> None:
    if response.status_code in ACCEPTED:
        return
    if response.status_code == 400:  # a parameter whose rule is beyond JSON Schema (an EAN's check digit)
        reason = str(response.json().get("reason", ""))
        ruled = [p["name"] for p in op.definition.raw.get("parameters", []) if "x-server-rules" in str(p)]
        assert any(reason.startswith(name) for name in ruled), (op.label, reason, ruled)
        return
    assert response.status_code == 422, (op.label, response.status_code, response.text[:300])
    content = op.definition.raw.get("requestBody", {}).get("content", {})
    if any("x-server-rules" in media.get("schema", {}) for media in content.values()):
        return  # the whole body is judged by the server (a MedCom envelope against its XSD)
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    components = document["components"]["schemas"]
    ruled = server_ruled_fields(components.get(ref.rsplit("/", 1)[-1], {}), components=components)  # type: ignore[assignment]
    refused = set(response.json().get("felter", {}))
    assert refused and refused <= ruled, (  # type: ignore[operator]
        f"{op.label}: schema-valid data refused for {refused - ruled or 'no named field'}: the document is "  # type: ignore[operator]
        f"looser than the server ({response.text[:300]})"
    )


def _operation(api_schema: Any, method: str, path: str) -> Any:
    for result in api_schema.get_all_operations():
        op = result.ok()
        if op.method.lower() == method and op.path == path:
            return op
    pytest.fail(f"{method.upper()} {path} is not in the served document")


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS), ids=lambda v: str(v))
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_request_gets_a_5xx(
    api_schema: Any, world: World, method: str, path: str, mode: GenerationMode
) -> None:
    op = _operation(api_schema, method, path)
    document = api_document(world)
    roles = next((r for prefix, r in ROLE_CYCLE.items() if path.startswith(prefix)), ("anonymous",))
    cycle = itertools.cycle(roles)

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=op.as_strategy(generation_mode=mode))
    def send(case: Any) -> None:
        role = next(cycle)
        headers = {"Authorization": f"Bearer {TOKENS[role]}"} if TOKENS[role] else {}
        response = case.call(base_url=world.url, headers=headers, timeout=20)
        STATUSES[f"{method} {path} {role} {response.status_code}"] += 1
        case.validate_response(response, checks=CHECKS, excluded_checks=[positive_data_acceptance], headers=headers)
        if mode is GenerationMode.POSITIVE:
            assert_valid_data_accepted(op, document, response)

    try:
        send()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip(f"{method.upper()} {path} has no parameter or body that could be made invalid")
        raise


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/incidents", {}),
        ("/api/v1/subscriptions", {}),
        ("/api/v1/incidents", {"cause": "x"}),
    ],
)
def test_what_the_document_calls_invalid_the_server_refuses(world: World, path: str, body: Any) -> None:
    """`{}` was documented as valid and answered 422: now the document requires what the server does."""
    document = api_document(world)
    schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = schema["$ref"].rsplit("/", 1)[-1]
    required = set(document["components"]["schemas"][name].get("required", []))
    assert required - set(body), f"{name}: {body} is valid by the document"
    assert world.post_json(path, body).status == 422


@pytest.mark.parametrize(
    "query",
    [
        "/api/v1/messages?since=",
        "/api/v1/messages?state=",
        "/api/v1/routes?state=AAA",
        "/api/v1/routes?sender=1",
        "/api/v1/routes?stat=down",
        "/api/v1/mailbox?limt=5",
        "/api/v1/incidents?since=2026-01-01",
    ],
)
def test_empty_or_unknown_query_values_are_400(world: World, query: str) -> None:
    reply = world.call("GET", query, role="admin")
    assert reply.status == 400 and reply.body["reason"], reply


def test_every_undocumented_method_is_405_with_allow(world: World) -> None:
    """Every documented path, every method it does not document: 405 and an Allow header listing exactly
    the documented methods (plus HEAD/OPTIONS, which need no documentation)."""
    document = api_document(world)
    tried = 0
    for path, ops in document["paths"].items():
        target = re.sub(
            r"\{[^}]+\}", lambda m: "5790000198764" if "sender" in m.group() or "receiver" in m.group() else "1", path
        )
        documented = {m.upper() for m in ops}
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - documented):
            reply = request(world.url + target, method, b"{}" if method != "GET" else None, token=TOKENS["admin"])
            assert reply.status == 405, (method, target, reply)
            allowed = {m.strip().upper() for m in reply.headers.get("Allow", "").split(",") if m.strip()}
            assert allowed - {"HEAD", "OPTIONS"} == documented, (method, target, reply.headers)
            tried += 1
    print(f"undocumented methods: {tried}, all 405 with Allow")
    assert tried >= 40


def test_service_still_healthy_and_document_served(world: World) -> None:
    by_status: Counter[str] = Counter()
    for key, n in STATUSES.items():
        by_status[key.rsplit(" ", 1)[1]] += n
    total = sum(STATUSES.values())
    print(f"schemathesis: {total} generated requests, by status {dict(sorted(by_status.items()))}")
    started = time.monotonic()
    health = world.call("GET", "/healthz", role="anonymous")
    assert health.status == 200, health
    served = world.call("GET", "/api/v1/openapi.json", role="anonymous")
    assert served.status == 200 and served.body["openapi"].startswith("3.1")
    assert "/api/v1/messages" in served.body["paths"]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("when", ["0001-01-01T00:03:00.0+00:04", "9999-12-31T23:59:59-05:00", "1999-12-31T12:00Z"])
def test_a_time_out_of_range_is_422_not_500(world: World, when: str) -> None:
    """Found by schemathesis: a time that is before year 1 in UTC crashed the report (OverflowError, 500)."""
    body = {**world.incident_body(), "affected_messages": ["XDIS91"], "expected_end": when}
    reply = world.post_json("/api/v1/incidents", body, role="reporter")
    assert reply.status == 422 and "expected_end" in reply.body["felter"], reply
