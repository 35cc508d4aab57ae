"""Issue 12: the procedure in daily operation, as the desk and the recipients see it (the real service, real
SMTP, mails and pages read as a person reads them)."""

from __future__ import annotations

import time
from typing import Any

from edigate.medcom.ean import with_check_digit
from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import (
    ASSENS,
    EDI_SUPPORT,
    KOLDING,
    MAILBOX,
    ODENSE,
    VEJEN,
    recipients,
)

MONDAY_10 = "2026-11-23T10:00:00+01:00"


def test_desk_widens_and_narrows_the_scope_and_the_next_notice_follows(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    """Item 1: Regional IT files for Kolding; the desk adds Vejen and takes Kolding out (wrongly named):
    the update goes to Vejen and no longer to Kolding; the change is audited with before/after."""
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    reply = world.file(
        token="region",
        cause="KMD-integration nede",
        affected_organisations=[KOLDING],
        expected_end="2026-11-23T15:00:00+01:00",
    )
    first = world.wait_until(lambda: world.notices("[EDI-nedbrud]"), what="first notice")
    assert recipients(first) == [MAILBOX[KOLDING]]

    # a municipal EOJ owner is not the desk
    status, body = world.call("POST", f"/api/v1/incidents/{reply['id']}/scope", {"affected_organisations": []})
    assert status == 403, body
    # an unknown organisation (a well-formed EAN that is no partner's) is refused by name, nothing stored
    unknown = with_check_digit("579999900099")
    status, body = world.call(
        "POST", f"/api/v1/incidents/{reply['id']}/scope", {"affected_organisations": [unknown]}, token="admin"
    )
    assert status == 422 and unknown in body["fejl"], body
    # a value not shaped like an EAN may be a CPR number: refused without being repeated (issue 10 item 5)
    status, body = world.call(
        "POST", f"/api/v1/incidents/{reply['id']}/scope", {"affected_organisations": ["123"]}, token="admin"
    )
    assert status == 422 and "gentages ikke" in body["fejl"] and "123" not in str(body), body

    world.set_clock("2026-11-23T10:05:00+01:00")
    status, body = world.call(
        "POST",
        f"/api/v1/incidents/{reply['id']}/scope",
        {"affected_organisations": [VEJEN]},
        token="admin",
    )
    assert status == 200 and body["affected_organisations"] == [VEJEN], body
    update = world.wait_until(
        lambda: world.notices("[EDI-nedbrud] Opdatering"), what="the update notice to the new scope"
    )
    assert recipients(update) == [MAILBOX[VEJEN]]
    assert "Omfanget er ændret" in update[0].text() and "Vejen Kommune" in update[0].text()
    detail = world.incident(reply["id"])
    (change,) = [a for a in detail["audit"] if a["action"] == "omfang-ændret"]
    assert change["actor"] == "administrator"
    assert f"før: {KOLDING}" in change["detail"] and f"efter: {VEJEN}" in change["detail"]

    world.set_clock("2026-11-23T11:00:00+01:00")
    assert world.call("POST", f"/api/v1/incidents/{reply['id']}/resolve", {}, token="region")[0] == 200
    resolved = world.wait_until(lambda: world.notices("[Løst]"), what="the resolved notice")
    time.sleep(1.0)
    assert recipients(world.notices("[Løst]")) == [MAILBOX[VEJEN]], recipients(resolved)


def test_status_page_lists_only_what_the_procedure_informs_about(world_factory: Any, smtp_server: SmtpServer) -> None:
    """Item 2: "Ved nedetid <2 timer udsendes ingen information": an incident under the 2-hour rule is not
    on the public status page nor in the Atom feed; one over it is, with its next status (item 5)."""
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    short = world.file(cause="Kort genstart af EOJ", expected_end="2026-11-23T11:00:00+01:00")
    long = world.file(
        token="region",
        cause="Cloverleaf opgraderes",
        affected_organisations=[ASSENS],
        expected_end="2026-11-23T16:00:00+01:00",
    )
    world.wait_until(lambda: world.notices("[EDI-nedbrud]"), what="the long one's first notice")

    def public() -> str:
        return world.call("GET", "/status", token=None)[1] + world.call("GET", "/status.atom", token=None)[1]

    text = public()
    assert "Cloverleaf opgraderes" in text
    assert "Kort genstart af EOJ" not in text
    assert "Næste status senest" in world.call("GET", "/status", token=None)[1]

    # item 10: "Se hændelsen" opens a public read-only page for what is public, a login for anything else
    status, page = world.call("GET", f"/incidents/{long['id']}", token=None)
    assert status == 200 and "Cloverleaf opgraderes" in page and "Næste status" in page
    assert "Revisionsspor" not in page and "Meddelelser og modtagere" not in page
    assert "regional-it" not in page and "@" not in page.split("<main", 1)[-1]  # no internal notes or mails
    status, page = world.call("GET", f"/incidents/{short['id']}", token=None)
    assert "Kort genstart af EOJ" not in page and 'name="token"' in page  # the login form

    # the short one overruns: unresolved 2 h after its start, the procedure informs, so it is listed
    world.set_clock("2026-11-23T12:00:00+01:00")
    world.wait_until(lambda: len(world.notices("[EDI-nedbrud]")) >= 4, what="the overrun notice")
    assert "Kort genstart af EOJ" in public()
    assert MAILBOX[ODENSE]  # (Odense filed it; the notice went to the hospitals and Odense)


def test_overrun_notice_never_states_a_passed_end_and_a_planned_end_reminds_the_desk(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    """Item 5: an overrun notice says the end is unknown (the estimate passed) and when the next status
    comes; a planned shutdown past its planned end reminds the desk, and the status page says "forventet
    afsluttet, afventer bekræftelse" instead of "Igangværende"."""
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    world.file(cause="EOJ genstartes", expected_end="2026-11-23T11:00:00+01:00")
    planned = world.file(
        token="region",
        kind="planned",
        cause="Cloverleaf-opdatering",
        affected_organisations=[ASSENS],
        start="2026-11-23T10:00:00+01:00",
        expected_end="2026-11-23T13:00:00+01:00",
    )
    world.wait_until(lambda: world.notices("[Planlagt nedlukning]"), what="the planned shutdown's notice")

    world.set_clock("2026-11-23T12:00:00+01:00")
    overrun = world.wait_until(lambda: world.notices("[EDI-nedbrud]"), what="the overrun notice")[0]
    text = overrun.text()
    assert "ukendt – skønnet mandag 23. november 2026 kl. 11:00 er overskredet" in text
    assert "Forventet løst (tidshorisont): mandag 23. november 2026 kl. 11:00\n" not in text
    assert "Næste status: mandag 23. november 2026 kl. 14:00" in text

    world.set_clock("2026-11-23T13:01:00+01:00")
    reminder = world.wait_until(
        lambda: world.notices("[Påmindelse] Planlagt nedlukning"), what="the desk's planned-end reminder"
    )
    assert reminder[0].rcpt_tos == [EDI_SUPPORT]
    assert f"/incidents/{planned['id']}" in reminder[0].text()
    page = world.call("GET", "/status", token=None)[1]
    card = page[page.index(f'id="incident-{planned["id"]}"') :].split("</div>")[0]
    assert "Forventet afsluttet, afventer bekræftelse" in card and "Igangværende" not in card
    assert "Næste status senest" in card
    time.sleep(1.0)
    assert len(world.notices("[Påmindelse] Planlagt nedlukning")) == 1  # once per planned end


def test_worklist_shows_the_desk_deferred_open_overdue_and_ended(world_factory: Any, smtp_server: SmtpServer) -> None:
    """Item 7: /incidents for the desk: an incident filed at 23:30 is deferred to 08:00; at 08:00 it is open
    with its next status; when that passes it is marked overdue; a resolved one is listed as ended. A
    municipal EOJ owner is not the desk."""
    from tests.integration.notify.conftest import TOKENS
    from tests.integration.notify.test_notify_input import Browser

    world = world_factory(smtp_server, clock="2026-11-23T23:30:00+01:00")
    world.service.start()
    night = world.file(cause="Cosmic-integration nede", expected_end="2026-11-24T12:00:00+01:00")
    ended = world.file(cause="Kort netværksfejl", expected_end="2026-11-24T00:30:00+01:00")
    assert world.call("POST", f"/api/v1/incidents/{ended['id']}/resolve", {})[0] == 200

    desk = Browser(world.service.base_url)
    desk.login(TOKENS["admin"])

    def section(page: str, title: str) -> str:
        return page.split(f"<h2>{title}", 1)[1].split("<h2>", 1)[0]

    status, page, _ = desk.get("/incidents")
    assert status == 200, page
    assert "Cosmic-integration nede" in section(page, "Udskudt til kl. 08.00")
    assert "Kort netværksfejl" in section(page, "Afsluttet de seneste 7 dage")

    world.set_clock("2026-11-24T08:00:00+01:00")
    world.wait_until(lambda: world.notices("[EDI-nedbrud]"), what="the first notice at 08:00")
    _, page, _ = desk.get("/incidents")
    open_ = section(page, "Igangværende")
    assert "Cosmic-integration nede" in open_ and "24.11.2026 10:00" in open_ and "overskredet" not in open_

    world.set_clock("2026-11-24T10:01:00+01:00")
    _, page, _ = desk.get("/incidents")
    row = section(page, "Igangværende").split(f'id="incident-{night["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "overskredet" in row

    eoj = Browser(world.service.base_url)
    eoj.login(TOKENS["odense"])
    assert eoj.get("/incidents")[0] == 403
