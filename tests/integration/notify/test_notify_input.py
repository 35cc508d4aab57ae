"""Bad input gets a clear Danish error and stores nothing; forms need a session and a CSRF token;
subscriptions are double opt-in and an unsubscribe link removes only its own subscription."""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import ASSENS, HOSPITALS, KOLDING, MAILBOX, ODENSE, TOKENS

MONDAY_10 = "2026-11-23T10:00:00+01:00"
GOOD = {
    "kind": "acute",
    "cause": "EOJ nede",
    "affected_messages": ["XDIS17"],
    "expected_end": "2026-11-23T15:00:00+01:00",
    "contact": {"name": "Hanne", "phone": "65511000", "email": "hanne@odense.example"},
}


def test_bad_api_input_gets_danish_errors_and_stores_nothing(world_factory: Any, smtp_server: SmtpServer) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    before = world.count_incidents()
    cases: list[tuple[dict[str, Any] | bytes, str | None, int, str]] = [
        ({**GOOD, "kind": "storm"}, "odense", 422, "kind"),
        ({**GOOD, "cause": "  "}, "odense", 422, "cause"),
        ({**GOOD, "affected_messages": []}, "odense", 422, "affected_messages"),
        ({**GOOD, "affected_messages": ["XDIS99"]}, "odense", 422, "affected_messages"),
        ({**GOOD, "affected_organisations": ["123"]}, "odense", 422, "affected_organisations"),
        ({**GOOD, "expected_end": "i morgen"}, "odense", 422, "expected_end"),
        ({**GOOD, "expected_end": "2026-11-23T09:00:00+01:00"}, "odense", 422, "expected_end"),
        (
            {**GOOD, "contact": {"name": "Hanne", "phone": "12", "email": "ikke-en-mail"}},
            "odense",
            422,
            "contact_email",
        ),
        ({**GOOD, "reporting_organisation": ASSENS}, "odense", 422, "reporting_organisation"),
        ({**GOOD, "cause": "Patient 010203-1234 ramt"}, "odense", 422, "cause"),
        ({**GOOD, "affected_messages": "XDIS17", "kind": ["acute"]}, "odense", 422, "kind"),
        (b"{not json", "odense", 400, ""),
        (b"[1, 2]", "odense", 400, ""),
        (GOOD, None, 401, ""),
    ]
    for body, token, status, field in cases:
        raw = body if isinstance(body, bytes) else None
        got, reply = world.call("POST", "/api/v1/incidents", None if raw else body, token=token, raw=raw)
        assert got == status, (body, reply)
        assert isinstance(reply, dict) and reply["fejl"], reply
        if field:
            assert field in reply["felter"], reply
    _, reply = world.call("POST", "/api/v1/incidents", {**GOOD, "cause": "", "contact": {}})
    assert reply["fejl"].startswith("Indberetningen er ikke gemt")
    assert reply["felter"]["cause"] == "Skriv årsagen til fejlen."
    assert reply["felter"]["contact_name"] == "Skriv kontaktpersonens navn."
    assert "010203-1234" not in world.service.log_text()
    # Unknown incident and bad ids are 404, a finished one is 409; never 5xx.
    assert world.call("GET", "/api/v1/incidents/999")[0] == 404
    assert world.call("GET", "/api/v1/incidents/abc")[0] == 404
    assert world.call("POST", "/api/v1/incidents/999/resolve", {})[0] == 404
    assert world.count_incidents() == before == 0
    time.sleep(0.5)
    assert world.mails() == []
    ok = world.file(expected_end="2026-11-23T15:00:00+01:00")
    assert world.call("POST", f"/api/v1/incidents/{ok['id']}/updates", {"text": ""})[0] == 422
    assert world.call("POST", f"/api/v1/incidents/{ok['id']}/resolve", {})[0] == 200
    status, reply = world.call("POST", f"/api/v1/incidents/{ok['id']}/resolve", {})
    assert status == 409 and "allerede løst" in reply["fejl"]
    status, reply = world.call("POST", f"/api/v1/incidents/{ok['id']}/updates", {"text": "x"}, token="region")
    assert status == 403  # Regional IT may not change Odense's report
    assert world.count_incidents() == 1


class Browser:
    """A cookie-keeping HTTP client that reads CSRF tokens out of the pages, like a browser would."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def get(self, path: str) -> tuple[int, str, dict[str, str]]:
        return self._open(urllib.request.Request(self.base + path))

    def post(self, path: str, fields: list[tuple[str, str]]) -> tuple[int, str, dict[str, str]]:
        data = urllib.parse.urlencode(fields).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, method="POST"))

    def _open(self, req: urllib.request.Request) -> tuple[int, str, dict[str, str]]:
        try:
            with self.opener.open(req, timeout=10) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(), dict(exc.headers)

    @staticmethod
    def csrf(html: str) -> str:
        match = re.search(r'name="csrf" value="([^"]+)"', html)
        assert match, html[:500]
        return match.group(1)

    def login(self, token: str) -> None:
        _, page, _ = self.get("/login")
        status, _, headers = self.post(
            "/login", [("csrf", self.csrf(page)), ("token", token), ("next", "/incidents/new")]
        )
        assert status == 303 and headers["Location"] == "/incidents/new"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_form_needs_login_and_csrf_and_shows_danish_errors(world_factory: Any, smtp_server: SmtpServer) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    b = Browser(world.service.base_url)
    status, _, headers = b.get("/incidents/new")
    assert status == 303 and headers["Location"].startswith("/login")
    status, page, headers = b.get("/login")
    assert headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff" and "Referrer-Policy" in headers
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # Login without the CSRF token is refused; a wrong token is refused in Danish.
    assert b.post("/login", [("token", TOKENS["odense"])])[0] == 403
    status, page, _ = b.post("/login", [("csrf", b.csrf(page)), ("token", "forkert")])
    assert status == 401 and "Ukendt adgangsnøgle" in page
    b.login(TOKENS["odense"])

    status, page, _ = b.get("/incidents/new")
    assert status == 200 and "<h1>EDI-nedbrud/nedlukning</h1>" in page
    assert "Udskrivningsadvis (XDIS17)" in page and "Odense Kommune" in page
    token = b.csrf(page)
    # Missing fields: Danish messages next to the fields, entered values kept, nothing stored.
    status, page, _ = b.post(
        "/incidents/new",
        [
            ("csrf", token),
            ("kind", "acute"),
            ("cause", "<script>alert(1)</script>"),
            ("contact_name", "Hanne"),
        ],
    )
    assert status == 422
    assert "Indberetningen er ikke gemt." in page
    assert "Vælg mindst én berørt meddelelse." in page
    assert "Angiv forventet afslutning" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    # A forged post (wrong CSRF token) is refused.
    assert b.post("/incidents/new", [("csrf", "forged"), ("kind", "acute")])[0] == 403
    assert world.count_incidents() == 0

    fields = [
        ("csrf", token),
        ("kind", "planned"),
        ("reporting_organisation", ODENSE),
        ("role", "eoj"),
        ("cause", "Opgradering af EOJ"),
        ("affected_messages", "XDIS17"),
        ("affected_messages", "XDIS20"),
        ("start", "2026-11-28T08:00"),
        ("expected_end", "2026-11-28T14:00"),
        ("contact_name", "Hanne Hansen"),
        ("contact_phone", "65 51 10 00"),
        ("contact_email", "hanne@odense.example"),
    ]
    status, _, headers = b.post("/incidents/new", fields)
    assert status == 303 and headers["Location"] == "/incidents/1"
    status, page, _ = b.get("/incidents/1")
    assert status == 200 and "Planlagt nedlukning nr. 1" in page and "Revisionsspor" in page
    # Planned: announced when handled (now), not when the shutdown starts.
    world.wait_until(lambda: len(world.notices("[Planlagt nedlukning]")) == 3, what="planned announcement")
    assert {r for m in world.notices("[Planlagt nedlukning]") for r in m.rcpt_tos} == HOSPITALS | {MAILBOX[ODENSE]}
    with urllib.request.urlopen(world.service.base_url + "/status/planned.ics", timeout=5) as resp:
        ics = resp.read()
    assert b"DTSTART:20261128T070000Z\r\n" in ics and b"SUMMARY:Planlagt EDI-nedlukning: Opgradering af EOJ" in ics


def test_subscription_double_opt_in_and_unsubscribe_removes_only_that_one(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    assert world.call("POST", "/api/v1/subscriptions", {"email": "x"}, token=None)[0] == 422
    status, reply = world.call(
        "POST",
        "/api/v1/subscriptions",
        {"email": "sygeplejerske@kolding.example", "clusters": ["Lillebælt"]},
        token=None,
    )
    assert status == 202, reply
    assert "id" not in reply  # the answer never tells whether the address was already known

    def confirm_latest(count: int) -> None:
        mail = world.wait_mails(count)[-1]
        link = re.search(r"(/subscriptions/confirm/\S+)", mail.text()).group(1)  # type: ignore[union-attr]
        with urllib.request.urlopen(world.service.base_url + link, timeout=5) as resp:
            assert "Abonnementet er bekræftet" in resp.read().decode()

    confirm_latest(1)  # one pending confirmation per address: the second subscription once it is confirmed
    status, _ = world.call(
        "POST",
        "/api/v1/subscriptions",
        {"email": "sygeplejerske@kolding.example", "message_types": ["XDIS17"]},
        token=None,
    )
    assert status == 202
    confirm_latest(2)

    # A Kolding outage matches both subscriptions: the address gets one mail, with an unsubscribe link.
    world.call(
        "POST",
        "/api/v1/incidents",
        {**GOOD, "reporting_organisation": KOLDING, "affected_organisations": [KOLDING], "role": "eoj"},
        token="admin",
    )
    notices = world.wait_until(
        lambda: len(world.notices("[EDI-nedbrud]")) >= 4 and world.notices("[EDI-nedbrud]"),
        what="notice incl. subscriber",
    )
    got = {r: m for m in notices for r in m.rcpt_tos}
    assert set(got) == HOSPITALS | {MAILBOX[KOLDING], "sygeplejerske@kolding.example"}
    assert "Afmeld" not in got[MAILBOX[KOLDING]].text()
    assert got[MAILBOX[KOLDING]].message["List-Unsubscribe"] is None  # a list mailbox cannot unsubscribe
    sub_mail = got["sygeplejerske@kolding.example"].text()
    link = re.search(r"(/subscriptions/unsubscribe/\S+)", sub_mail).group(1)  # type: ignore[union-attr]
    # RFC 8058: the mail client's one-click "Afmeld" POSTs to the subscription's own URL, without a form
    headers = got["sygeplejerske@kolding.example"].message
    assert headers["List-Unsubscribe"] == f"<{world.service.base_url}{link}>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with urllib.request.urlopen(world.service.base_url + link, timeout=5) as resp:  # GET only asks
        assert "Afmeld" in resp.read().decode()
    req = urllib.request.Request(
        headers["List-Unsubscribe"].strip("<>"),
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert "Abonnementet er afmeldt" in resp.read().decode()
    status, subs = world.call("GET", "/api/v1/subscriptions", token="admin")
    states = sorted(s["state"] for s in subs["subscriptions"])
    assert states == ["confirmed", "removed"]  # only the one subscription went
    assert world.call("GET", "/api/v1/subscriptions", token="odense")[0] == 403

    # Next outage (Assens, cluster Fyn, XDIS17): the remaining XDIS17 subscription still matches.
    world.call(
        "POST",
        "/api/v1/incidents",
        {**GOOD, "reporting_organisation": ASSENS, "role": "eoj", "cause": "Assens EOJ nede"},
        token="admin",
    )
    world.wait_until(lambda: len([m for m in world.notices("[EDI-nedbrud] Assens")]) >= 4, what="second notice")
    second = {r for m in world.notices("[EDI-nedbrud] Assens") for r in m.rcpt_tos}
    assert second == HOSPITALS | {MAILBOX[ASSENS], "sygeplejerske@kolding.example"}
