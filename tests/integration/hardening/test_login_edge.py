"""The outage form's login against hostile input: `next` never leaves the site (issue 10, item 9) and a
logout ends the session on the server, so a copy of the cookie is worthless afterwards (item 12)."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.integration.hardening.conftest import TOKENS, World
from tests.integration.hardening.test_hostile_http import get_raw
from tests.integration.notify.test_notify_input import Browser

HOSTILE_NEXT = [
    "/\t/evil.example/",  # browsers drop the tab: //evil.example/
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "/%2F/evil.example/",
    "/incidents/new\r\nSet-Cookie: x=1",
    " /incidents/new",
]


def login_page_next(b: Browser, query_next: str) -> tuple[str, str]:
    """GET /login?next=… and the `next` the page carries on, with its CSRF token."""
    status, page, _ = b.get("/login?next=" + urllib.parse.quote(query_next, safe=""))
    assert status == 200, page[:300]
    field = page.split('name="next" value="', 1)[1].split('"', 1)[0]
    return field, b.csrf(page)


@pytest.mark.parametrize("hostile", HOSTILE_NEXT, ids=repr)
def test_login_redirects_only_to_a_local_path(world: World, hostile: str) -> None:
    b = Browser(world.url)
    carried, csrf = login_page_next(b, hostile)
    assert carried == "/incidents/new"
    # posted directly (a forged login form): the server decides again, and the connection survives
    status, _, headers = b.post("/login", [("csrf", csrf), ("token", TOKENS["reporter"] or ""), ("next", hostile)])
    assert status == 303 and headers["Location"] == "/incidents/new", (status, headers)


def test_a_nul_in_next_is_refused_at_the_edge(world: World) -> None:
    b = Browser(world.url)
    assert b.get("/login?next=/%00/evil.example")[0] == 400
    _, csrf = login_page_next(b, "/incidents/new")
    status, _, headers = b.post("/login", [("csrf", csrf), ("token", TOKENS["reporter"] or ""), ("next", "/\x00/x")])
    assert status == 422 and "Location" not in headers


def test_a_newline_in_next_does_not_drop_the_connection(world: World) -> None:
    reply = get_raw(world.service.port, b"/login?next=/%0d%0aX-Evil:%201")
    assert reply.status == 200 and b"X-Evil" not in b"".join(f"{k}: {v}".encode() for k, v in reply.headers.items())


@pytest.mark.parametrize("local", ["/incidents/new", "/admin/subscriptions", "/incidents/3?ok=update"])
def test_login_keeps_a_plain_local_next(world: World, local: str) -> None:
    b = Browser(world.url)
    carried, csrf = login_page_next(b, local)
    assert carried == local
    status, _, headers = b.post("/login", [("csrf", csrf), ("token", TOKENS["reporter"] or ""), ("next", local)])
    assert status == 303 and headers["Location"] == local


def test_a_cookie_is_worthless_after_logout(world: World) -> None:
    b = Browser(world.url)
    b.login(TOKENS["reporter"] or "")
    status, page, _ = b.get("/incidents/new")
    assert status == 200
    stolen = {c.name: c.value for c in b.jar}  # a copy of the cookie, taken while logged in
    status, _, headers = b.post("/logout", [("csrf", b.csrf(page))])
    assert status == 303 and headers["Location"] == "/login"

    replay = Browser(world.url)
    for name, value in stolen.items():
        replay.jar.set_cookie(_cookie(name, value))  # type: ignore[arg-type]
    status, _, headers = replay.get("/incidents/new")
    assert status == 303 and headers["Location"].startswith("/login"), (status, headers)
    status, _, _ = replay.post("/incidents/new", [("csrf", "x"), ("kind", "acute")])
    assert status in (303, 403)
    # and a fresh login still works
    b.login(TOKENS["reporter"] or "")
    assert b.get("/incidents/new")[0] == 200


def test_logging_out_one_session_leaves_the_others(world: World) -> None:
    first, second = Browser(world.url), Browser(world.url)
    first.login(TOKENS["reporter"] or "")
    second.login(TOKENS["reporter"] or "")
    _, page, _ = first.get("/incidents/new")
    assert first.post("/logout", [("csrf", first.csrf(page))])[0] == 303
    assert first.get("/incidents/new")[0] == 303
    assert second.get("/incidents/new")[0] == 200


def _cookie(name: str, value: str) -> object:
    import http.cookiejar

    return http.cookiejar.Cookie(
        0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, False, None, None, {}
    )
