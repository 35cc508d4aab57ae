"""`/routes` in Debian's Chromium (issue 12 item 14, issue 11 "rendered from a template like every other page"):
the site's header and navigation (back to /status; the desk's links when the desk is logged in), grey
"ingen trafik" cells where nothing was measured, red "nede" cells for a receiver that is down, a summary
that counts exactly the cells shown, and a page that reloads itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import chromium, log_in
from tests.harness import config as cfg
from tests.harness.http import request
from tests.harness.receiver import Receiver
from tests.harness.service import Fleet, make_service
from tests.harness.smtp import SmtpServer
from tests.harness.wait import wait_until
from tests.integration.health.conftest import TOKENS, config_text
from tests.unit.medcom.samples import xdis91_message

pytestmark = pytest.mark.browser

GREY = "rgb(229, 231, 235)"  # #e5e7eb
RED = "rgb(248, 201, 201)"  # #f8c9c9
XML = {"Content-Type": "application/xml"}


def cells_by_word(page: Any) -> dict[str, int]:
    """How many cells the reader sees with each state word (the first line of the cell)."""
    words = [text.split("\n")[0].strip().lower() for text in page.locator("table.routes td[class]").all_inner_texts()]
    return {word: words.count(word) for word in set(words)}


def summary(page: Any) -> dict[str, int]:
    """The header's "Celler: 1 ok, 0 forstyrret, 2 nede, 2 ingen trafik." as {word: count}."""
    m = re.search(r"Celler: ([^.]*)\.", page.inner_text("main"))
    assert m, page.inner_text("main")
    return {word: int(n) for n, word in (part.split(" ", 1) for part in m.group(1).split(", "))}


def test_routes_page_in_the_site_layout(tmp_path: Path, smtp_server: SmtpServer, receiver: Receiver) -> None:
    receiver.mode = "fail"  # Testkommune's system answers 500: its routes go down
    text = config_text(cfg.sqlite_url(tmp_path / "edigate.db"), receiver.url, tmp_path / "out", smtp_server.port)
    fleet = Fleet()
    service = make_service(text, tmp_path)
    fleet.start(service)
    try:
        base = service.base_url
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="da-DK")
            page.goto(base + "/routes")
            assert page.title() == "EDI-ruter: driftsstatus – Region Syddanmark"
            assert page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "30"
            # nothing sent yet: every cell is grey "ingen trafik", and the summary says so
            assert cells_by_word(page) == {"ingen trafik": 4}  # 2 hospitals × 2 municipalities
            assert summary(page) == {"ok": 0, "forstyrret": 0, "nede": 0, "ingen trafik": 4}
            quiet = page.locator("table.routes td.quiet").first
            assert quiet.evaluate("td => getComputedStyle(td).backgroundColor") == GREY

            # a message to the failing receiver: both hospitals' routes into it go down (the quiet one too)
            xml = xdis91_message(envelope_id="ENVROUTES01", letter_id="LETROUTES01")
            reply = request(base + "/api/v1/messages", "POST", xml, token=TOKENS["hospital"], headers=XML)
            assert reply.status == 202, reply

            def shows_down() -> bool:  # the page reloads itself every 30 s; the test reloads sooner
                page.reload()
                return cells_by_word(page).get("nede") == 2

            wait_until(shows_down, 30, lambda: f"no two 'nede' cells: {page.inner_text('main')}")
            seen = cells_by_word(page)
            assert seen == {"nede": 2, "ingen trafik": 2}, seen
            assert summary(page) == {"ok": 0, "forstyrret": 0, "nede": 2, "ingen trafik": 2}
            down = page.locator("table.routes td.down")
            assert down.first.evaluate("td => getComputedStyle(td).backgroundColor") == RED
            assert "Modtagere nede: Testkommune" in page.inner_text("main")

            # the site's navigation: back to the status page, as on every other page
            assert page.locator("header >> text=Log ind").count() == 1
            page.click("header >> text=Driftsstatus")
            page.wait_for_url("**/status")
            page.click("header >> text=EDI-ruter")
            page.wait_for_url("**/routes")

            # the desk logged in sees its own links on /routes too: one layout, one login
            log_in(page, base, TOKENS["admin"], "/incidents")
            on_the_worklist = page.inner_text("header")
            page.goto(base + "/routes")
            header = page.inner_text("header")
            assert "Arbejdsliste" in header and "Logget ind som" in header and "Log ind" not in header
            assert header == on_the_worklist  # the very same header as on notify's own pages
            page.screenshot(path=str(tmp_path / "routes.png"), full_page=True)
    finally:
        fleet.stop()
