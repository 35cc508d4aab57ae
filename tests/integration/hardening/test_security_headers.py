"""Every answer of the running service carries the security headers (issue 10, item 13): every route the
app registers (read from `app.router`), called as it is and as a logged-in browser would, plus answers the
app makes itself (404, 405). `/routes` had none of them."""

from __future__ import annotations

import re

import pytest

from edigate.web.openapi import registered_routes
from tests.integration.hardening.conftest import TOKENS, World, inprocess_app
from tests.integration.notify.test_notify_input import Browser

REQUIRED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def concrete(path: str) -> str:
    """A request path for a route pattern: `{id}` -> 1, an EAN -> a 13-digit number, other names -> x."""
    path = re.sub(r"\{(\w+):\[0-9\]\{13\}\}", "5790000198764", path)
    path = re.sub(r"\{id[^}]*\}", "1", path)
    path = re.sub(r"\{action:([a-z]+)[^}]*\}", r"\1", path)
    return re.sub(r"\{[^}]+\}", "x", path)


def assert_headers(where: str, headers: dict[str, str]) -> None:
    got = {k.lower(): v for k, v in headers.items()}
    for name, value in REQUIRED.items():
        assert got.get(name.lower()) == value, (where, name, headers)
    assert "frame-ancestors 'none'" in got.get("content-security-policy", ""), (where, headers)


@pytest.fixture(scope="module")
def get_paths(world: World) -> list[str]:
    app = inprocess_app(world.service.config_path)
    return sorted({concrete(path) for method, path in registered_routes(app) if method in ("get", "*")})


def test_every_get_route_carries_the_headers_anonymous_and_logged_in(world: World, get_paths: list[str]) -> None:
    assert "/routes" in get_paths and "/status" in get_paths and "/metrics" in get_paths
    browser = Browser(world.url)
    browser.login(TOKENS["admin"] or "")
    for path in get_paths:
        reply = world.call("GET", path, role="anonymous")
        assert_headers(f"GET {path} -> {reply.status}", reply.headers)
        status, _, headers = browser.get(path)
        assert_headers(f"GET {path} (logged in) -> {status}", headers)


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/no/such/page"), ("DELETE", "/routes"), ("PUT", "/status"), ("GET", "/api/v1/x")]
)
def test_answers_the_app_makes_itself_carry_them_too(world: World, method: str, path: str) -> None:
    reply = world.call(method, path, role="anonymous")
    assert reply.status in (404, 405)
    assert_headers(f"{method} {path}", reply.headers)
