"""The form "EDI-nedbrud/nedlukning" and the status page in headless Chromium (Debian's /usr/bin/chromium,
driven by Playwright; nothing downloads a browser). Saves docs/status-page.png for the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import chromium
from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import KOLDING, ODENSE, TOKENS, build_world

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "status-page.png"

pytestmark = pytest.mark.browser


def test_file_a_report_through_the_form_and_see_it_on_status(tmp_path: Path, smtp_server: SmtpServer) -> None:
    world = build_world(tmp_path, smtp_server, clock="2026-11-23T10:00:00+01:00")
    world.service.start()
    try:
        # Some history for the status page: a planned shutdown and a resolved outage.
        world.file(
            token="admin",
            kind="planned",
            reporting_organisation=KOLDING,
            role="eoj",
            cause="Planlagt opgradering af Kolding Kommunes EOJ",
            affected_messages=["XDIS17", "XDIS20"],
            start="2026-11-28T08:00:00+01:00",
            expected_end="2026-11-28T14:00:00+01:00",
        )
        # Over 2 hours, so the lists are told (and so is the status page): only what the procedure informs
        # about is public. Resolved once the lists have had the notice.
        old = world.file(
            cause="Certifikatfejl i VANS-forbindelsen",
            start="2026-11-23T07:30:00+01:00",
            expected_end="2026-11-23T10:30:00+01:00",
        )
        world.wait_until(
            lambda: world.notices("[EDI-nedbrud] Certifikatfejl"), what="the lists' notice of the VANS outage"
        )
        world.call("POST", f"/api/v1/incidents/{old['id']}/resolve", {"text": "Certifikatet er fornyet"})

        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="da-DK")
            page.goto(world.service.base_url + "/incidents/new")
            assert "/login" in page.url
            page.fill("#token", TOKENS["odense"])
            page.click("button[type=submit]")
            page.wait_for_url("**/incidents/new")
            assert page.inner_text("h1") == "EDI-nedbrud/nedlukning"

            # Submitting empty shows Danish errors next to the fields; nothing is stored.
            page.click("text=Send indberetning")
            assert page.is_visible("text=Skriv årsagen til fejlen.")
            assert page.is_visible("text=Vælg mindst én berørt meddelelse.")

            page.check("input[name=kind][value=acute]")
            page.fill("#cause", "Odense Kommunes EOJ kan ikke modtage meddelelser")
            page.check("input[name=affected_messages][value=XDIS17]")
            page.check("input[name=affected_messages][value=XDIS20]")
            page.fill("#expected_end", "2026-11-23T15:00")
            page.fill("#contact_name", "Hanne Hansen")
            page.fill("#contact_phone", "65 51 10 00")
            page.fill("#contact_email", "hanne@odense.example")
            page.click("text=Send indberetning")
            page.wait_for_url("**/incidents/*")
            assert "Akut nedbrud nr. 3" in page.inner_text("h1")
            assert page.is_visible("text=Revisionsspor")

            page.goto(world.service.base_url + "/status")
            ongoing = page.inner_text("main")
            assert "Odense Kommunes EOJ kan ikke modtage meddelelser" in ongoing
            assert "Planlagt opgradering af Kolding Kommunes EOJ" in ongoing
            assert "Certifikatfejl i VANS-forbindelsen" in ongoing
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        assert world.incident(3)["reporting_organisation"] == ODENSE
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        world.service.stop()
