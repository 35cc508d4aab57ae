"""Issue 12 item 10: "Se hændelsen" in a list mail opens a public, read-only page, not a login wall.

The link is taken from a real mail received by aiosmtpd and followed with plain HTTP, without a cookie or a
token, and without following redirects (a redirect to /login is the bug). The page shows what the status
page shows and the status texts the lists were sent; never the audit trail, the recipients or who typed what.
What the procedure does not inform about (under the 2-hour rule, a draft) is 404, like an unknown number.
"""

from __future__ import annotations

import http.client
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient, TestServer

from edigate.app import NOTIFY, build_app
from notify.service import NotifyService
from tests.harness.eans import MUNICIPALITY
from tests.harness.receiver import Receiver
from tests.harness.smtp import ReceivedMail, SmtpServer
from tests.integration.health.conftest import TOKENS, TUESDAY_10
from tests.integration.health.test_health_loop_inprocess import MovableClock, world_settings
from tests.integration.notify.conftest import CONTACT, HOSPITALS, MAILBOX, OUH, REGION, NotifyWorld, recipients

LINK = re.compile(r"Se hændelsen: (\S+)")


def get(url: str) -> tuple[int, str, dict[str, str]]:
    """GET as a recipient's browser would on first visit: no cookie, no token; a redirect is returned as is."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path or "/")
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace"), dict(resp.getheaders())
    finally:
        conn.close()


def link_in(mail: ReceivedMail) -> str:
    found = LINK.search(mail.text())
    assert found, mail.text()
    url = found.group(1)
    assert f'href="{url}"' in mail.html(), "the HTML part links to the same page"
    return url


def list_mails(world: NotifyWorld, prefix: str) -> list[ReceivedMail]:
    return [m for m in world.notices(prefix) if HOSPITALS & set(m.rcpt_tos)]


def test_se_haendelsen_in_a_list_mail_opens_the_public_page(world_factory: Any, smtp_server: SmtpServer) -> None:
    world: NotifyWorld = world_factory(smtp_server, clock="2026-11-23T10:00:00+01:00")  # Monday, in the window
    world.service.start()
    reply = world.file(
        cause="Cloverleaf kan ikke sende til kommunerne",
        expected_end="2026-11-23T14:00:00+01:00",
        affected_organisations=[OUH],
        token="region",
        role="regional-it",
        reporting_organisation=REGION,
    )
    first = world.wait_until(lambda: list_mails(world, "[EDI-nedbrud]"), what="the lists' first notice")[0]
    assert MAILBOX[OUH] in recipients([first])

    url = link_in(first)
    assert url == f"{world.service.base_url}/status/incidents/{reply['id']}"
    status, page, headers = get(url)
    assert status == 200, (status, headers.get("Location"))
    assert headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert '<html lang="da">' in page and 'href="/status"' in page  # the site's navigation
    assert "Cloverleaf kan ikke sende til kommunerne" in page
    assert "Næste status senest" in page and "Forventet løst" in page
    assert "Odense Universitetshospital" in page
    assert CONTACT["name"] in page
    # nothing of the desk's page: audit trail, recipients and their addresses, delivery errors
    for internal in ("Revisionsspor", "Meddelelser og modtagere", "Indberettet af", MAILBOX[OUH], "Fejl ved"):
        assert internal not in page, internal
    assert 'action="/incidents/' not in page, "read-only: no form that changes the incident"

    # Half an hour later a status update reaches the lists, and the same link shows it.
    world.set_clock("2026-11-23T10:30:00+01:00")
    status_text = "Leverandøren genstarter integrationsmotoren"
    code, _ = world.call("POST", f"/api/v1/incidents/{reply['id']}/updates", {"text": status_text}, token="region")
    assert code == 200
    update = world.wait_until(lambda: list_mails(world, "[EDI-nedbrud] Opdatering"), what="the lists' update notice")[0]
    assert link_in(update) == url
    assert status_text in get(url)[1]

    # Resolved: the link in the resolved notice still opens the page, now saying "Løst".
    world.set_clock("2026-11-23T11:00:00+01:00")
    code, _ = world.call("POST", f"/api/v1/incidents/{reply['id']}/resolve", {"text": "Kører igen"}, token="region")
    assert code == 200
    resolved = world.wait_until(lambda: list_mails(world, "[Løst]"), what="the lists' resolved notice")[0]
    status, page, _ = get(link_in(resolved))
    assert status == 200 and "Løst:" in page and "Kører igen" in page

    # The Atom entry links to the same public page.
    atom = get(world.service.base_url + "/status.atom")[1]
    assert f'href="{url}"' in atom


def test_what_the_procedure_does_not_inform_about_is_not_public(world_factory: Any, smtp_server: SmtpServer) -> None:
    world: NotifyWorld = world_factory(smtp_server, clock="2026-11-23T10:00:00+01:00")
    world.service.start()
    short = world.file(cause="Kort afbrydelse af EOJ", expected_end="2026-11-23T11:00:00+01:00")  # 1 h: no notice
    base = world.service.base_url
    for path in (f"/status/incidents/{short['id']}", "/status/incidents/999", "/status/incidents/abc"):
        status, page, headers = get(base + path)
        assert status == 404, (path, status)
        assert "Kort afbrydelse" not in page
        assert "Location" not in headers
    assert "findes ikke" in get(base + f"/status/incidents/{short['id']}")[1]


async def test_a_draft_is_not_public_until_confirmed(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """An outage edigate detects itself is a draft: internal until a person confirms it (in process, through
    the service's own entry point for the health monitor)."""
    settings = world_settings(tmp_path, receiver, smtp_server)
    app = build_app(settings, clock=MovableClock(TUESDAY_10))
    async with TestClient(TestServer(app)) as client:
        service: NotifyService = app[NOTIFY]
        draft = await service.open_draft_incident(
            cause="Testkommunes modtager svarer ikke",
            affected_organisations=[MUNICIPALITY],
            affected_messages=["XDIS91"],
            expected_end=TUESDAY_10 + timedelta(hours=3),
        )
        page = await client.get(f"/status/incidents/{draft.id}", allow_redirects=False)
        assert page.status == 404
        assert "Testkommunes modtager" not in await page.text()

        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        confirmed = await client.post(f"/api/v1/incidents/{draft.id}/confirm", json={}, headers=admin)
        assert confirmed.status == 200, await confirmed.text()
        page = await client.get(f"/status/incidents/{draft.id}", allow_redirects=False)
        assert page.status == 200
        assert "Testkommunes modtager svarer ikke" in await page.text()
