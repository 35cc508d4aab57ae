"""The admin's directory pages in Debian's Chromium (issue 12 item 8): a municipality's new functional
mailbox and a duty phone recorded through the forms (CSRF as every form), in force at once, in the log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import chromium, log_in
from tests.browser.test_form_layout import LAYOUT_PROBLEMS
from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import KOLDING, MAILBOX, TOKENS, build_world

pytestmark = pytest.mark.browser


def test_admin_edits_a_mailbox_and_a_duty_phone(tmp_path: Path, smtp_server: SmtpServer) -> None:
    world = build_world(tmp_path, smtp_server, clock="2026-11-23T10:00:00+01:00")
    world.service.start()
    base = world.service.base_url
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="da-DK")
            log_in(page, base, TOKENS["admin"], "/admin/directory")
            assert page.inner_text("h1") == "Kartotek: postkasser, klynger og kontakter"
            assert MAILBOX[KOLDING] in page.inner_text(f"#org-{KOLDING}")
            assert "Ingen rettelser endnu." in page.inner_text("main")

            page.click(f"#org-{KOLDING} >> text=Ret")
            page.wait_for_url(f"**/admin/directory/organisations/{KOLDING}")
            assert page.evaluate(LAYOUT_PROBLEMS) == []
            page.fill("#mailbox", "ikke en adresse")
            page.click("main button[type=submit]")
            assert page.is_visible("#mailbox-error")
            assert "Funktionspostkasse" in page.inner_text("#mailbox-error")
            page.fill("#mailbox", "ny-edi@kolding.example")
            page.click("main button[type=submit]")
            page.wait_for_url("**/admin/directory?ok=1")
            assert "Gemt" in page.inner_text("main")
            row = page.inner_text(f"#org-{KOLDING}")
            assert "ny-edi@kolding.example" in row and "Rettet 23.11.2026 10:00 af administrator" in row
            log = page.inner_text("main")
            assert MAILBOX[KOLDING] in log.split("Ændringslog", 1)[1]  # before
            assert "ny-edi@kolding.example" in log.split("Ændringslog", 1)[1]  # after

            page.click("text=Ret kontaktkortet")
            page.wait_for_url("**/admin/directory/contacts")
            assert page.evaluate(LAYOUT_PROBLEMS) == []
            page.fill("#duty_phones", page.input_value("#duty_phones") + "\nKolding: 75 50 15 00")
            page.click("main button[type=submit]")
            page.wait_for_url("**/admin/directory?ok=1")
            page.goto(base + "/status/contacts")
            assert "75 50 15 00" in page.inner_text("main")
            page.screenshot(path=str(tmp_path / "contacts.png"), full_page=True)

        assert world.call("GET", "/api/v1/directory", token="admin")[1]["contacts"]["duty_phones"]["Kolding"] == (
            "75 50 15 00"
        )
    finally:
        world.service.stop()
