"""The procedure end to end: the real service, a real SMTP server, mails read as a recipient reads them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import (
    ASSENS,
    CONTACT,
    EDI_SUPPORT,
    HOSPITALS,
    MAILBOX,
    MUNICIPALITIES,
    ODENSE,
    ON_CALL,
    recipients,
)

MONDAY_10 = "2026-11-23T10:00:00+01:00"  # inside the window and EDI support's hours


def _main_flow(world: Any) -> None:
    world.service.start()
    reply = world.file(expected_end="2026-11-23T14:30:00+01:00")  # 4 h 30 min > 2 h
    assert reply["plan"]["notify"] is True
    assert reply["plan"]["handled_by"] == "edi-support"

    # Receipt to the reporter (and the person on duty), then the first notice to the lists.
    world.wait_until(lambda: len(world.notices("[EDI-nedbrud]")) >= 3, what="first notice")
    # the outbox sends row by row, in no promised order: wait for both receipts too
    receipts = world.wait_until(
        lambda: len(world.notices("[Kvittering]")) >= 2 and world.notices("[Kvittering]"), what="receipts"
    )
    assert recipients(receipts) == sorted([CONTACT["email"], EDI_SUPPORT])
    assert "Håndteres: mandag 23. november 2026 kl. 10:00 af EDI-supporten" in receipts[0].text()
    first = world.notices("[EDI-nedbrud]")
    # A municipality's EOJ outage goes to the hospitals and that municipality, nobody else.
    assert recipients(first) == sorted(HOSPITALS | {MAILBOX[ODENSE]})
    mail = first[0]
    assert mail.subject == "[EDI-nedbrud] EOJ-systemet er nede – Odense Kommune"
    text = mail.text()
    assert "Næste status: mandag 23. november 2026 kl. 12:00" in text
    assert "Udskrivningsadvis (XDIS17)" in text
    assert "Forventet løst (tidshorisont): mandag 23. november 2026 kl. 14:30" in text
    assert "Kontaktperson: Hanne Hansen" in text
    assert "Afmeld" not in text  # list addresses carry no unsubscribe link
    assert "Næste status" in mail.html() and "<strong>mandag 23. november 2026 kl. 12:00</strong>" in mail.html()

    # Resolve: the resolved notice goes to exactly those who got the notice.
    world.set_clock("2026-11-23T11:15:00+01:00")
    status, _ = world.call("POST", f"/api/v1/incidents/{reply['id']}/resolve", {"text": "EOJ kører igen"})
    assert status == 200
    resolved = world.wait_until(
        lambda: len(world.notices("[Løst]")) >= 3 and world.notices("[Løst]"), what="resolved notice"
    )
    assert recipients(resolved) == recipients(first)
    assert "Løst: mandag 23. november 2026 kl. 11:15" in resolved[0].text()
    # the reporter hears it too (issue 12 item 4); Odense's mailbox already has the lists' [Løst]
    told = world.wait_until(lambda: world.notices("[Kvittering] Løst"), what="the reporter's resolved mail")
    assert recipients(told) == [CONTACT["email"]]
    assert "Distributionslisterne får også besked" in told[0].text()
    assert "Der udsendes ikke flere meddelelser" in resolved[0].text()

    detail = world.incident(reply["id"])
    assert detail["state"] == "resolved"
    assert [n["kind"] for n in detail["notices"]] == ["receipt", "first", "reporter-resolved", "resolved"]
    assert detail["errors"] == []
    assert {a["action"] for a in detail["audit"]} >= {
        "indberettet",
        "kvittering",
        "meddelelse-first",
        "løst",
        "meddelelse-resolved",
    }
    time.sleep(1.0)
    assert len(world.mails()) == 2 + 3 + 1 + 3  # nothing more (no reminder, no duplicate)


def test_acute_outage_over_2h_notifies_lists_then_resolved(world_factory: Any, smtp_server: SmtpServer) -> None:
    _main_flow(world_factory(smtp_server, clock=MONDAY_10))


@pytest.mark.postgres
def test_main_flow_on_postgresql(postgres_url: str, world_factory: Any, smtp_server: SmtpServer) -> None:
    # postgres_url first: its database is dropped only after the service has stopped.
    _main_flow(world_factory(smtp_server, clock=MONDAY_10, storage_url=postgres_url))


def test_exactly_2h_sends_only_the_receipt(world_factory: Any, smtp_server: SmtpServer) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    reply = world.file(expected_end="2026-11-23T12:00:00+01:00")
    assert reply["plan"]["notify"] is False
    world.wait_mails(2)
    time.sleep(1.5)
    assert [m.subject.split("]")[0] + "]" for m in world.mails()] == ["[Kvittering]", "[Kvittering]"]
    assert "Der udsendes ikke meddelelse til distributionslisterne nu" in world.mails()[0].text()
    # Resolved inside the 2 h: still nothing to the lists.
    world.set_clock("2026-11-23T11:30:00+01:00")
    assert world.call("POST", f"/api/v1/incidents/{reply['id']}/resolve", {})[0] == 200
    # the reporter hears that it is solved ("Dette gentages, når problemet er løst"), the lists do not
    told = world.wait_until(
        lambda: len(world.notices("[Kvittering] Løst")) >= 2 and world.notices("[Kvittering] Løst"),
        what="the reporter's resolved mails",
    )
    assert recipients(told) == sorted([CONTACT["email"], MAILBOX[ODENSE]])
    assert "Distributionslisterne fik ingen meddelelse" in told[0].text()
    time.sleep(1.5)
    assert len(world.mails()) == 2 + 2


def test_overnight_waits_for_0800_then_first_and_combined(world_factory: Any, smtp_server: SmtpServer) -> None:
    """Filed at 23:30: only the receipts go out (to staff, at any hour). At 08:00 the still-open outage gets
    its first notice; the one resolved overnight after > 2 h gets one combined notice."""
    world = world_factory(smtp_server, clock="2026-11-23T23:30:00+01:00")
    world.service.start()
    open_one = world.file(cause="Cosmic-integration nede", expected_end="2026-11-24T12:00:00+01:00")
    assert open_one["plan"]["handled_at"].startswith("2026-11-24T07:00:00")  # 08:00 local
    assert open_one["plan"]["handled_by"] == "edi-support"
    gone = world.file(
        cause="Netværksfejl hos KMD",
        affected_organisations=[ASSENS],
        expected_end="2026-11-24T03:00:00+01:00",
    )
    world.wait_mails(4)
    receipt = world.notices("[Kvittering]")[0].text()
    assert "håndteres derfor først kl. 08.00" in receipt
    assert world.notices("[Kvittering]")[1].rcpt_tos == [EDI_SUPPORT]  # the one on duty at 08:00 Tuesday
    world.set_clock("2026-11-24T02:30:00+01:00")  # 3 h later: resolved overnight
    assert world.call("POST", f"/api/v1/incidents/{gone['id']}/resolve", {})[0] == 200
    world.set_clock("2026-11-24T07:59:00+01:00")
    # only the reporter's contact hears it at night; Odense's mailbox gets the combined notice at 08:00
    told = world.wait_until(lambda: world.notices("[Kvittering] Løst"), what="the reporter's resolved mail")
    assert recipients(told) == [CONTACT["email"]]
    time.sleep(1.5)
    assert len(world.mails()) == 4 + 1, [m.subject for m in world.mails()]

    world.set_clock("2026-11-24T08:00:00+01:00")
    first = world.wait_until(
        lambda: len(world.notices("[EDI-nedbrud]")) >= 3 and world.notices("[EDI-nedbrud]"),
        what="first notice at 08:00",
    )
    combined = world.wait_until(
        lambda: len(world.notices("[Løst]")) >= 4 and world.notices("[Løst]"), what="combined notice at 08:00"
    )
    assert "Næste status: tirsdag 24. november 2026 kl. 10:00" in first[0].text()
    assert recipients(combined) == sorted(HOSPITALS | {MAILBOX[ODENSE], MAILBOX[ASSENS]})
    assert "opstået og løst" in combined[0].text()
    time.sleep(1.0)
    assert len(world.notices("[EDI-nedbrud]")) == 3 and len(world.notices("[Løst]")) == 4


def test_regional_outage_goes_to_all_municipalities_and_overdue_status_reminds_on_call(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    world = world_factory(smtp_server, clock="2026-11-27T13:00:00+01:00")  # Friday 13:00
    world.service.start()
    reply = world.file(
        token="region",
        cause="Cloverleaf nede",
        affected_messages=["XDIS17", "XDIS20"],
        expected_end="2026-11-27T18:00:00+01:00",
    )
    notices = world.wait_until(
        lambda: len(world.notices("[EDI-nedbrud]")) >= 4 and world.notices("[EDI-nedbrud]"),
        what="first notice",
    )
    assert recipients(notices) == sorted(MUNICIPALITIES)
    assert notices[0].subject == "[EDI-nedbrud] Cloverleaf nede – alle kommuner"
    assert "Næste status: fredag 27. november 2026 kl. 15:00" in notices[0].text()
    # 15:00 passes without an update: the person on duty (on call after Fri 14:00) is reminded, not the lists.
    world.set_clock("2026-11-27T15:01:00+01:00")
    reminder = world.wait_until(lambda: world.notices("[Påmindelse]"), what="reminder")
    assert reminder[0].rcpt_tos == [ON_CALL]
    time.sleep(1.0)
    assert len(world.notices("[Påmindelse]")) == 1 and len(world.notices("[EDI-nedbrud]")) == 4
    # An update goes to the lists with a new next status.
    status, _ = world.call(
        "POST",
        f"/api/v1/incidents/{reply['id']}/updates",
        {"text": "Leverandøren arbejder på det", "expected_end": "2026-11-27T20:00:00+01:00"},
        token="region",
    )
    assert status == 200
    update = world.wait_until(
        lambda: len(world.notices("[EDI-nedbrud] Opdatering")) >= 4 and world.notices("[EDI-nedbrud] Opdatering"),
        what="update notice",
    )
    assert "Næste status: fredag 27. november 2026 kl. 17:01" in update[0].text()
    assert "Leverandøren arbejder på det" in update[0].text()


def test_overrun_of_a_short_estimate_triggers_the_first_notice(world_factory: Any, smtp_server: SmtpServer) -> None:
    """Estimated 1 h, still unresolved 2 h after the start: the first notice goes out then."""
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    reply = world.file(expected_end="2026-11-23T11:00:00+01:00")
    assert reply["plan"]["notify"] is False
    world.wait_mails(2)
    world.set_clock("2026-11-23T11:59:00+01:00")
    time.sleep(1.0)
    assert world.notices("[EDI-nedbrud]") == []
    world.set_clock("2026-11-23T12:00:00+01:00")
    first = world.wait_until(
        lambda: len(world.notices("[EDI-nedbrud]")) >= 3 and world.notices("[EDI-nedbrud]"),
        what="overrun notice",
    )
    assert "Næste status: mandag 23. november 2026 kl. 14:00" in first[0].text()
