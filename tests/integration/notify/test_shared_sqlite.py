"""One SQLite file, two writers: the gateway's writer thread stores a steady stream of MedCom messages while
the outage procedure files, updates and resolves incidents and sends their notices from the same file.

The embedded default is exactly this (one `[storage] url`, both halves in one process). What an operator
must be able to rely on: every message and every incident action is answered as usual, nothing waits
past SQLite's busy timeout ("database is locked"), every message is delivered and every notice goes out."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.harness.http import request
from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import KOLDING, ODENSE, OUH, SLB
from tests.unit.medcom.samples import xdis20_message, xdis91_message

MONDAY_10 = "2026-11-23T10:00:00+01:00"  # inside the notice window and EDI support's hours
SENDERS = 4
PER_SENDER = 120
INCIDENTS = 6
#: per incident: the reporter's receipt, the first notice (over 2 h), the reporter's resolved mail, the
#: lists' resolved notice
EXPECTED_NOTICES = sorted(["receipt", "first", "reporter-resolved", "resolved"])


def _send_messages(base_url: str, sender: int, statuses: list[int]) -> None:
    """One hospital system: PER_SENDER messages back to back, XDIS91 and XDIS20 in turn."""
    hospital, municipality = (OUH, ODENSE) if sender % 2 == 0 else (SLB, KOLDING)
    for i in range(PER_SENDER):
        ident = f"SQ{sender}{i:05d}"
        make = xdis91_message if i % 2 == 0 else xdis20_message
        body = make(envelope_id=f"ENV{ident}", letter_id=f"LET{ident}", sender_ean=hospital, receiver_ean=municipality)
        reply = request(
            f"{base_url}/api/v1/messages",
            "POST",
            body,
            token=f"partner-{hospital}",
            headers={"Content-Type": "application/xml"},
            timeout=30,
        )
        statuses.append(reply.status)


def _delivered(out: Path) -> int:
    return sum(len(list((out / ean).glob("*.xml"))) for ean in (ODENSE, KOLDING))


def test_messages_and_incidents_share_one_sqlite_file(
    world_factory: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    statuses: list[int] = []
    senders = [
        threading.Thread(target=_send_messages, args=(world.service.base_url, n, statuses)) for n in range(SENDERS)
    ]
    for t in senders:
        t.start()

    # meanwhile the procedure: file (over 2 h: receipt and first notice), add an update, resolve
    filed: list[int] = []
    try:
        for n in range(INCIDENTS):
            reply = world.file(cause=f"EOJ-systemet er nede ({n})", expected_end="2026-11-23T14:30:00+01:00")
            assert reply["plan"]["notify"] is True, reply
            filed.append(reply["id"])
        for incident_id in filed:
            status, body = world.call(
                "POST", f"/api/v1/incidents/{incident_id}/updates", {"text": "Vi arbejder på det"}
            )
            assert status == 200, body
        # Resolve each only once its first notice is recorded. (Resolved in the same minute before any
        # notice went out, the procedure rightly sends nothing to the lists: "Ved nedetid <2 timer udsendes
        # ingen information". Racing the scheduler here made the expected notices a coin toss.)
        for incident_id in filed:
            world.wait_until(
                lambda i=incident_id: "first" in [n["kind"] for n in world.incident(i)["notices"]],
                timeout=60,
                what=f"the first notice of incident {incident_id}",
            )
            status, body = world.call("POST", f"/api/v1/incidents/{incident_id}/resolve", {"text": "Kører igen"})
            assert status == 200, body
    finally:
        for t in senders:
            t.join(timeout=120)

    assert len(statuses) == SENDERS * PER_SENDER
    assert set(statuses) == {202}, {s: statuses.count(s) for s in set(statuses)}

    out = tmp_path / "out"
    world.wait_until(lambda: _delivered(out) == SENDERS * PER_SENDER, timeout=60, what="every message delivered")

    def all_notices_sent() -> bool:
        for incident_id in filed:
            detail = world.incident(incident_id)
            # the order of the reporter's resolved mail and the lists' one is the scheduler's, not a contract
            # (the clock is frozen: every notice has the same time)
            if sorted(n["kind"] for n in detail["notices"]) != EXPECTED_NOTICES:
                return False
            if any(r["status"] != "sent" for r in detail["recipients"]):
                return False
        return True

    world.wait_until(all_notices_sent, timeout=60, what="every notice of every incident sent")
    for incident_id in filed:
        detail = world.incident(incident_id)
        assert detail["state"] == "resolved" and detail["errors"] == [], detail["errors"]

    log = world.service.log_text()
    for trouble in ("database is locked", "OperationalError", "Traceback"):
        assert trouble not in log, f"{trouble!r} in the service log"
    time.sleep(0.5)
    assert _delivered(out) == SENDERS * PER_SENDER  # and nothing twice
