"""The desk's sundhed.dk (VisInfoSyd) task in Debian's Chromium (issue 12 item 12): ordered on the incident's
page, listed with the text to post under "sundhed.dk" in the navigation, marked done; a reporter sees none
of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import chromium, log_in, log_out
from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import ASSENS, REGION, TOKENS, build_world

pytestmark = pytest.mark.browser


def test_order_a_sundhed_dk_post_see_the_task_and_mark_it_done(tmp_path: Path, smtp_server: SmtpServer) -> None:
    world = build_world(tmp_path, smtp_server, clock="2026-11-23T10:00:00+01:00")
    world.service.start()
    try:
        incident = world.file(
            token="region",
            role="regional-it",
            reporting_organisation=REGION,
            cause="Cloverleaf opgraderes",
            affected_organisations=[ASSENS],
            expected_end="2026-11-23T15:00:00+01:00",
        )
        page_path = f"/incidents/{incident['id']}"
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, locale="da-DK")
            log_in(page, world.service.base_url, TOKENS["region"], "/incidents/new")
            page.goto(world.service.base_url + page_path)
            page.click("text=Bestil opslag på sundhed.dk")
            page.wait_for_url(f"**{page_path}?ok=visinfosyd")
            assert "Ikke lagt op endnu." in page.inner_text("#sundhed-dk ~ p")
            text = page.input_value("#portal-text")
            assert text.startswith("Akut nedbrud: Cloverleaf opgraderes") and "Næste status senest" in text

            page.click("header >> text=Arbejdsliste")
            page.wait_for_url("**/incidents")
            assert "Cloverleaf opgraderes" in page.inner_text("#sundhed-dk + ul")

            page.click("header >> text=sundhed.dk")
            page.wait_for_url("**/desk/visinfosyd")
            card = page.inner_text(f"#task-{incident['id']}")
            assert (
                "Cloverleaf opgraderes" in card and "Bestilt mandag 23. november 2026 kl. 10:00 af Regional IT" in card
            )
            assert page.input_value(f"#text-{incident['id']}") == text
            page.screenshot(path=str(tmp_path / "visinfosyd.png"), full_page=True)

            world.set_clock("2026-11-23T10:20:00+01:00")
            page.click(f"#task-{incident['id']} >> text=Markér som lagt op")
            page.wait_for_url(f"**{page_path}?ok=visinfosyd")
            assert "Lagt op mandag 23. november 2026 kl. 10:20 af Regional IT." in page.inner_text("main")
            assert "sundhed.dk udført" in page.inner_text("main")  # the audit trail
            page.goto(world.service.base_url + "/desk/visinfosyd")
            assert "Ingen opslag venter." in page.inner_text("main")
            page.goto(world.service.base_url + "/incidents")
            assert page.locator("#sundhed-dk + ul").count() == 0

            # A reporter is not the desk: no section, no link, no list.
            log_out(page)
            log_in(page, world.service.base_url, TOKENS["odense"], "/incidents/new")
            assert page.locator("header >> text=sundhed.dk").count() == 0
            response = page.goto(world.service.base_url + "/desk/visinfosyd")
            assert response is not None and response.status == 403
    finally:
        world.service.stop()
