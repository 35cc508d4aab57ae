"""Brute-force protection of the login form against the real `edigate serve`: after five wrong access keys
from one address that address gets 429 with `Retry-After` and a Danish message, even with a correct key,
until the window has passed (moved with the clock file). Other addresses can still log in, a forged
X-Forwarded-For does not help, and no submitted key reaches the log."""

from __future__ import annotations

import functools
import http.client
import urllib.parse
import urllib.request
from typing import Any

from edigate.metrics import LOGIN_EVENTS
from tests.harness.http import request
from tests.harness.smtp import SmtpServer
from tests.integration.health.conftest import metric_value
from tests.integration.notify.conftest import TOKENS
from tests.integration.notify.test_notify_input import Browser, _NoRedirect

MONDAY_10 = "2026-11-23T10:00:00+01:00"
WRONG = [f"gæt-nummer-{i}" for i in range(5)]


class _FromAddress(urllib.request.HTTPHandler):
    """Connects from another loopback address (127.0.0.2), i.e. another client as the service sees it."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.address, 0)), req)


def browser_from(base: str, address: str) -> Browser:
    b = Browser(base)
    b.opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(b.jar), _NoRedirect(), _FromAddress(address)
    )
    return b


def try_login(b: Browser, token: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    _, page, _ = b.get("/login")
    fields = [("csrf", b.csrf(page)), ("token", token), ("next", "/incidents/new")]
    if headers is None:
        return b.post("/login", fields)
    data = urllib.parse.urlencode(fields).encode()
    return b._open(urllib.request.Request(b.base + "/login", data=data, method="POST", headers=headers))


def test_wrong_keys_lock_the_address_out_until_the_window_has_passed(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    b = Browser(world.service.base_url)

    # Five wrong keys: each one the usual 401 "Ukendt adgangsnøgle".
    for key in WRONG:
        status, page, _ = try_login(b, key)
        assert status == 401 and "Ukendt adgangsnøgle" in page, (key, status)

    # The sixth try is refused before the key is looked at: 429, Retry-After, Danish message.
    status, page, headers = try_login(b, "gæt-nummer-6")
    assert status == 429
    assert headers["Retry-After"] == str(15 * 60)
    assert "For mange forkerte forsøg. Prøv igen om 15 minutter." in page
    assert headers["X-Frame-Options"] == "DENY" and headers["Cache-Control"] == "no-store"
    assert 'name="token"' in page  # still the login page

    # A correct key is refused as well during the lock-out (else a guesser would learn he hit it).
    world.set_clock("2026-11-23T10:10:00+01:00")
    status, page, headers = try_login(b, TOKENS["odense"])
    assert status == 429 and headers["Retry-After"] == str(5 * 60)
    assert "Prøv igen om 5 minutter." in page
    assert b.get("/incidents/new")[0] == 303  # not logged in

    # A forged X-Forwarded-For is not another client.
    status, _, _ = try_login(b, TOKENS["odense"], headers={"X-Forwarded-For": "203.0.113.7"})
    assert status == 429

    # Another address is not affected.
    other = browser_from(world.service.base_url, "127.0.0.2")
    other.login(TOKENS["region"])

    # Past the window the correct key logs in, and that clears the count.
    world.set_clock("2026-11-23T10:15:01+01:00")
    b.login(TOKENS["odense"])
    assert b.get("/incidents/new")[0] == 200
    for key in WRONG[:4]:
        assert try_login(b, key)[0] == 401
    assert try_login(b, TOKENS["odense"])[0] == 303  # four after a success: not locked

    log = world.service.log_text()
    assert "notify_login_locked_out" in log and "notify_login_throttled" in log
    assert "gæt-nummer" not in log and TOKENS["odense"] not in log

    # Prometheus sees the guessing: 9 wrong keys, 1 lock-out, 3 attempts refused during it; no address.
    metrics = request(world.service.base_url + "/metrics", "GET", text=True).body
    counts = {e: metric_value(metrics, "edigate_login_events_total", event=e) for e in LOGIN_EVENTS}
    assert counts == {"wrong_key": 9, "lockout": 1, "throttled": 3}, counts
    assert "127.0.0.1" not in metrics and "gæt-nummer" not in metrics


def test_limits_come_from_the_config(world_factory: Any, smtp_server: SmtpServer) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10, login_max_failures=2, login_window_minutes=1)
    world.service.start()
    b = Browser(world.service.base_url)
    assert [try_login(b, key)[0] for key in WRONG[:2]] == [401, 401]
    status, page, headers = try_login(b, TOKENS["admin"])
    assert status == 429 and headers["Retry-After"] == "60"
    assert "Prøv igen om 1 minut." in page
    world.set_clock("2026-11-23T10:01:00+01:00")
    b.login(TOKENS["admin"])
