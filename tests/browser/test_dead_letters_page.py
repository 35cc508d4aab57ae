"""The desk's page of dead letters in Debian's Chromium (issue 12 item 6): Regional IT finds "Opgivne
meddelelser" in the navigation, sees the message the municipality's inbox refused, clicks "Prøv igen" once
the inbox is back, reads the confirmation and the audit line, and the real receiver gets the message."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import chromium, log_in
from tests.integration.notify.dead_letters_world import MUNICIPALITY_NAME, TOKENS, build
from tests.unit.medcom.samples import FICTITIOUS_CPR

pytestmark = pytest.mark.browser


def test_the_desk_retries_a_dead_letter_and_the_receiver_gets_it(tmp_path: Path) -> None:
    world = build(tmp_path)
    try:
        world.service.start()
        mid = world.dead_letter("ENVBRW01")
        assert world.receiver.received == []
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1200, "height": 900}, locale="da-DK")
            log_in(page, world.service.base_url, TOKENS["region"], "/incidents")
            page.click("header >> text=Opgivne meddelelser")
            page.wait_for_url("**/desk/dead-letters")
            row = page.locator(f"#dead-letter-{mid}")
            assert "XDIS91 (OIOXML)" in row.inner_text() and MUNICIPALITY_NAME in row.inner_text()
            assert FICTITIOUS_CPR not in page.content() and "Testesen" not in page.content()

            row.get_by_role("button", name="Prøv igen").click()
            page.wait_for_url(f"**/desk/dead-letters/{mid}/retry")
            flash = page.inner_text("#flash")
            assert f"Meddelelse {mid} (XDIS91) til {MUNICIPALITY_NAME} er lagt i kø igen med ny alder." in flash
            assert page.locator(f"#dead-letter-{mid}").count() == 0  # no longer a dead letter
            audit = page.inner_text("#history")
            assert "Regional IT" in audit and f"Meddelelse {mid} (XDIS91, OIOXML)" in audit
            page.screenshot(path=str(tmp_path / "dead-letters.png"), full_page=True)

            (received,) = world.receiver.wait_for(1)
            assert b"ENVBRW01" in received
            world.wait_state(mid, "delivered")
    finally:
        world.service.stop()
        world.receiver.stop()
