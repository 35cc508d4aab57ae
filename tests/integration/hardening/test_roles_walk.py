"""Every route of the app, called with every role: no token, a wrong token, the sending hospital, the
receiving municipality, a notify reporter and an admin. The table must cover every registered route
(enumerated from `app.router` of an app built by the gateway's own factory from the same config), so a new
route cannot ship without deciding who may call it.

Web pages use the login session, never bearer tokens: for them every role gets what an anonymous visitor
gets (a bearer token must not open a page).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edigate.web.openapi import OPENAPI_PATH, registered_routes, undocumented_api_routes
from tests.harness.running_clock import RunningClockFile
from tests.integration.hardening.conftest import (
    HOSPITAL,
    MUNICIPALITY,
    ROLES,
    TOKENS,
    World,
    inprocess_app,
    start_world,
)

#: The walk's service runs from noon, Danish time: the public incident page shows an incident the procedure
#: has informed about, and one reported after 22:00 is informed about at 08:00 (the page is 404 until then).
NOON = datetime(2026, 12, 7, 12, 0, tzinfo=ZoneInfo("Europe/Copenhagen"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    clock_file = tmp_path_factory.mktemp("clock") / "clock.txt"
    with RunningClockFile(clock_file, NOON):
        yield from start_world(tmp_path_factory, env={"EDIGATE_CLOCK_FILE": str(clock_file)})


# role order: anonymous, wrong, sender, receiver, reporter, admin
A = dict.fromkeys(ROLES, 200)


def by_role(anonymous: int, wrong: int, sender: int, receiver: int, reporter: int, admin: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, wrong, sender, receiver, reporter, admin), strict=True))


def same(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


@dataclass
class Row:
    expect: dict[str, int]
    target: Callable[[World, str], tuple[str, str, bytes | None, str | None]]  # -> method, path, body, ctype


def fixed(method: str, path: str, body: Any = None, ctype: str | None = None) -> Callable[..., Any]:
    def make(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        return method, path, data, ctype or ("application/json" if isinstance(body, dict) else None)

    return make


def message_xml(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
    from tests.unit.medcom.samples import xdis91_message

    xml = xdis91_message(envelope_id=w.unique("ENVR"), letter_id=w.unique("LETR"))
    return "POST", "/api/v1/messages", xml, "application/xml"


def on_message(suffix: str, method: str = "GET") -> Callable[..., Any]:
    def make(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
        return method, f"/api/v1/messages/{w.send_message()}{suffix}", None, None

    return make


def mailbox_ack(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
    return "POST", f"/api/v1/mailbox/{w.send_message()}/ack", None, None


def on_incident(action: str = "", body: dict[str, Any] | None = None, method: str = "POST") -> Callable[..., Any]:
    def make(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
        path = f"/api/v1/incidents/{w.new_incident()}" + (f"/{action}" if action else "")
        return method, path, json.dumps(body).encode() if body is not None else None, "application/json"

    return make


def new_incident(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
    body = w.incident_body()
    body["affected_messages"] = ["XDIS91"]
    return "POST", "/api/v1/incidents", json.dumps(body).encode(), "application/json"


def public_incident(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
    """A filed acute incident lasting over 2 hours: one the procedure informs about, so public."""
    return "GET", f"/status/incidents/{w.new_incident()}", None, None


def on_subscription(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
    return "DELETE", f"/api/v1/subscriptions/{w.new_subscription()}", None, None


def subscribe(w: World, role: str) -> tuple[str, str, bytes | None, str | None]:
    body = {"email": f"{w.unique('sub')}@kommune.example"}
    return "POST", "/api/v1/subscriptions", json.dumps(body).encode(), "application/json"


# (method, aiohttp canonical path) -> expected status per role
TABLE: dict[tuple[str, str], Row] = {
    # ---- gateway API (bearer: partners, clients, admins)
    ("post", "/api/v1/messages"): Row(by_role(401, 401, 202, 403, 401, 403), message_xml),
    ("get", "/api/v1/messages"): Row(by_role(401, 401, 200, 200, 401, 200), fixed("GET", "/api/v1/messages")),
    ("get", "/api/v1/messages/{id}"): Row(by_role(401, 401, 200, 200, 401, 200), on_message("")),
    ("post", "/api/v1/messages/{id}/retry"): Row(by_role(401, 401, 200, 403, 401, 200), on_message("/retry", "POST")),
    ("get", "/api/v1/mailbox"): Row(by_role(401, 401, 200, 200, 401, 403), fixed("GET", "/api/v1/mailbox")),
    ("post", "/api/v1/mailbox/{id}/ack"): Row(by_role(401, 401, 404, 200, 401, 404), mailbox_ack),
    ("get", "/api/v1/routes"): Row(by_role(401, 401, 200, 200, 401, 200), fixed("GET", "/api/v1/routes")),
    ("get", "/api/v1/routes/{sender}/{receiver}"): Row(
        by_role(401, 401, 200, 200, 401, 200), fixed("GET", f"/api/v1/routes/{HOSPITAL}/{MUNICIPALITY}")
    ),
    # ---- outage procedure API (bearer: reporters, admins)
    ("post", "/api/v1/incidents"): Row(by_role(401, 401, 401, 401, 201, 201), new_incident),
    ("get", "/api/v1/incidents"): Row(by_role(401, 401, 401, 401, 200, 200), fixed("GET", "/api/v1/incidents")),
    ("get", "/api/v1/incidents/{id}"): Row(by_role(401, 401, 401, 401, 200, 200), on_incident(method="GET")),
    ("post", "/api/v1/incidents/{id}/{action}"): Row(  # walked for each action in test_incident_actions
        by_role(401, 401, 401, 401, 200, 200),
        on_incident("updates", {"text": "Leverandøren arbejder på sagen"}),
    ),
    # ---- the desk's sundhed.dk tasks (bearer: the desk; this reporter is a municipality's EOJ owner)
    ("post", "/api/v1/incidents/{id}/visinfosyd"): Row(
        by_role(401, 401, 401, 401, 403, 200), on_incident("visinfosyd", {"action": "request"})
    ),
    ("get", "/api/v1/visinfosyd"): Row(by_role(401, 401, 401, 401, 403, 200), fixed("GET", "/api/v1/visinfosyd")),
    # ---- the directory (bearer: admins only); a PUT without fields is refused after the role check
    ("get", "/api/v1/directory"): Row(by_role(401, 401, 401, 401, 403, 200), fixed("GET", "/api/v1/directory")),
    ("put", "/api/v1/directory/organisations/{ean}"): Row(
        by_role(401, 401, 401, 401, 403, 422), fixed("PUT", f"/api/v1/directory/organisations/{HOSPITAL}", {})
    ),
    ("put", "/api/v1/directory/contacts"): Row(
        by_role(401, 401, 401, 401, 403, 422), fixed("PUT", "/api/v1/directory/contacts", {})
    ),
    ("post", "/api/v1/subscriptions"): Row(by_role(202, 401, 401, 401, 202, 201), subscribe),
    ("get", "/api/v1/subscriptions"): Row(by_role(401, 401, 401, 401, 403, 200), fixed("GET", "/api/v1/subscriptions")),
    ("delete", "/api/v1/subscriptions/{id}"): Row(by_role(401, 401, 401, 401, 403, 200), on_subscription),
    ("get", "/api/v1/subscriptions/confirm/{token}"): Row(same(404), fixed("GET", "/api/v1/subscriptions/confirm/x")),
    # ---- open to all
    ("get", "/healthz"): Row(A, fixed("GET", "/healthz")),
    ("get", "/readyz"): Row(A, fixed("GET", "/readyz")),
    ("get", OPENAPI_PATH): Row(A, fixed("GET", OPENAPI_PATH)),
    ("get", "/metrics"): Row(A, fixed("GET", "/metrics")),
    ("get", "/routes"): Row(A, fixed("GET", "/routes")),
    ("get", "/status"): Row(A, fixed("GET", "/status")),
    ("get", "/status.atom"): Row(A, fixed("GET", "/status.atom")),
    ("get", "/status/planned.ics"): Row(A, fixed("GET", "/status/planned.ics")),
    ("get", "/status/contacts"): Row(A, fixed("GET", "/status/contacts")),
    ("get", "/login"): Row(A, fixed("GET", "/login")),
    ("get", "/subscriptions/new"): Row(A, fixed("GET", "/subscriptions/new")),
    ("get", "/status/incidents/{id}"): Row(A, public_incident),
    # ---- pages behind the login session: a bearer token changes nothing
    ("post", "/login"): Row(same(403), fixed("POST", "/login", b"token=x", "application/x-www-form-urlencoded")),
    ("*", "/logout"): Row(same(303), fixed("GET", "/logout")),
    ("get", "/incidents/new"): Row(same(303), fixed("GET", "/incidents/new")),
    ("post", "/incidents/new"): Row(
        same(303), fixed("POST", "/incidents/new", b"", "application/x-www-form-urlencoded")
    ),
    # a public incident's page is open to all (the same as /status/incidents/<id>); any other number asks for a
    # login, whatever the bearer token
    ("get", "/incidents/{id}"): Row(same(303), fixed("GET", "/incidents/999999")),
    ("get", "/incidents"): Row(same(303), fixed("GET", "/incidents")),
    ("get", "/desk/visinfosyd"): Row(same(303), fixed("GET", "/desk/visinfosyd")),
    ("get", "/desk/dead-letters"): Row(same(303), fixed("GET", "/desk/dead-letters")),
    ("post", "/desk/dead-letters/{id}/retry"): Row(
        same(303), fixed("POST", "/desk/dead-letters/1/retry", b"", "application/x-www-form-urlencoded")
    ),
    ("post", "/desk/dead-letters/retry-receiver"): Row(
        same(303),
        fixed(
            "POST",
            "/desk/dead-letters/retry-receiver",
            f"receiver={MUNICIPALITY}".encode(),
            "application/x-www-form-urlencoded",
        ),
    ),
    ("get", "/admin/directory"): Row(same(303), fixed("GET", "/admin/directory")),
    ("*", "/admin/directory/organisations/{ean}"): Row(
        same(303), fixed("GET", f"/admin/directory/organisations/{HOSPITAL}")
    ),
    ("*", "/admin/directory/contacts"): Row(same(303), fixed("GET", "/admin/directory/contacts")),
    ("post", "/incidents/{id}/{action}"): Row(
        same(303), fixed("POST", "/incidents/1/resolve", b"", "application/x-www-form-urlencoded")
    ),
    ("*", "/admin/subscriptions"): Row(same(303), fixed("GET", "/admin/subscriptions")),
    ("get", "/admin/outbox"): Row(same(303), fixed("GET", "/admin/outbox")),
    ("post", "/subscriptions/new"): Row(
        same(403), fixed("POST", "/subscriptions/new", b"email=a%40b.dk", "application/x-www-form-urlencoded")
    ),
    ("get", "/subscriptions/confirm/{token}"): Row(same(404), fixed("GET", "/subscriptions/confirm/x")),
    ("get", "/subscriptions/unsubscribe/{token}"): Row(same(404), fixed("GET", "/subscriptions/unsubscribe/x")),
    ("post", "/subscriptions/unsubscribe/{token}"): Row(
        same(404), fixed("POST", "/subscriptions/unsubscribe/x", b"", "application/x-www-form-urlencoded")
    ),
}


def send(w: World, role: str, method: str, path: str, body: bytes | None, ctype: str | None) -> int:
    """One request without following redirects (a 303 to /login is the answer we check)."""
    conn = http.client.HTTPConnection("127.0.0.1", w.service.port, timeout=20)
    headers = {"Connection": "close"}
    if TOKENS[role]:
        headers["Authorization"] = f"Bearer {TOKENS[role]}"
    if ctype:
        headers["Content-Type"] = ctype
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.fixture(scope="module")
def app_routes(world: World) -> set[tuple[str, str]]:
    return registered_routes(inprocess_app(world.service.config_path))


def test_the_table_covers_every_registered_route(app_routes: set[tuple[str, str]], world: World) -> None:
    missing = sorted(app_routes - set(TABLE))
    assert not missing, f"routes without an expected status per role (add them to TABLE): {missing}"
    assert not undocumented_api_routes(inprocess_app(world.service.config_path)), "add them to web/openapi.py"


@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda r: f"{r[0].upper()} {r[1]}")
def test_every_role_gets_the_expected_status(
    route: tuple[str, str], world: World, app_routes: set[tuple[str, str]]
) -> None:
    assert route in app_routes, f"{route[0].upper()} {route[1]} is not registered in this app"
    row = TABLE[route]
    got = {}
    for role in ROLES:
        method, path, body, ctype = row.target(world, role)
        got[role] = send(world, role, method, path, body, ctype)
    assert got == row.expect, f"{route}: got {got}"


@pytest.mark.parametrize(
    ("action", "body", "expect"),
    [
        ("updates", {"text": "Leverandøren arbejder på sagen"}, by_role(401, 401, 401, 401, 200, 200)),
        ("resolve", {"text": "Løst"}, by_role(401, 401, 401, 401, 200, 200)),
        ("confirm", None, by_role(401, 401, 401, 401, 403, 409)),  # admin may, but a filed report is no draft
    ],
)
def test_incident_actions(world: World, action: str, body: dict[str, Any] | None, expect: dict[str, int]) -> None:
    got = {}
    for role in ROLES:
        method, path, data, ctype = on_incident(action, body if body is not None else {})(world, role)
        got[role] = send(world, role, method, path, data, ctype)
    assert got == expect


def test_message_body_only_for_admin(world: World) -> None:
    mid = world.send_message()
    for role in ("sender", "receiver"):
        shown = world.call("GET", f"/api/v1/messages/{mid}", role=role)
        assert shown.status == 200 and "body" not in shown.body and "body_base64" not in shown.body
    shown = world.call("GET", f"/api/v1/messages/{mid}", role="admin")
    assert shown.status == 200 and shown.body["body_base64"]
