"""schemathesis against the real running service, from its OpenAPI 3.1 document: never a 5xx.

Every documented operation gets a bounded number of generated requests (MAX_EXAMPLES valid ones and
MAX_EXAMPLES invalid ones), sent with the token of a role that may call it, so generation reaches the
handlers' validation instead of stopping at 401. Uses schemathesis' Python API (`as_strategy`) with
hypothesis directly; its lazy pytest plugin does not run under pytest 9.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from edigate.web.openapi import OPERATIONS
from tests.integration.hardening.conftest import TOKENS, World, api_document

MAX_EXAMPLES = 25
# never a 5xx; and the document tells the truth: documented status, content type and response body
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
STATUSES: Counter[str] = Counter()

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
    return schemathesis.openapi.from_dict(api_document(world))


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
        case.validate_response(response, checks=CHECKS, headers=headers)

    try:
        send()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip(f"{method.upper()} {path} has no parameter or body that could be made invalid")
        raise


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
