"""Failures a real deployment meets: a crash mid-send, SMTP down, an unreachable webhook, a refused address.
Each leaves a visible error on the incident, loses nothing, and the service keeps serving."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.request
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller

from tests.harness.ports import free_port
from tests.harness.receiver import Receiver
from tests.harness.smtp import MailCatcher, SmtpServer
from tests.integration.notify.conftest import (
    ASSENS,
    HOSPITALS,
    MAILBOX,
    MUNICIPALITIES,
    ODENSE,
    WEBHOOK_SECRET,
    recipients,
)

MONDAY_10 = "2026-11-23T10:00:00+01:00"


class SlowCatcher(MailCatcher):
    """Takes 0.3 s per mail, so the test can kill the service between two mails of one notice."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.3)
        return await super().handle_DATA(server, session, envelope)


class SlowSmtp(SmtpServer):
    def __init__(self) -> None:
        self.port = free_port()
        self.catcher = SlowCatcher()
        self.controller = Controller(self.catcher, hostname="127.0.0.1", port=self.port)


def test_kill_9_mid_send_then_restart_sends_the_rest_without_duplicates(world_factory: Any) -> None:
    smtp = SlowSmtp().start()
    try:
        world = world_factory(smtp, clock=MONDAY_10)
        world.service.start()
        world.file(token="region", cause="Cloverleaf nede", expected_end="2026-11-23T15:00:00+01:00")
        world.wait_mails(3, timeout=20)
        world.service.kill9()  # some mails delivered, the rest only in the outbox
        sent_before = len(world.mails())
        world.service.start()
        expected = {*MUNICIPALITIES}  # the notice's recipients (+2 receipts)
        world.wait_until(
            lambda: expected <= {r for m in world.notices("[EDI-nedbrud]") for r in m.rcpt_tos},
            what="all notice recipients after the restart",
        )
        time.sleep(1.5)
        mails = world.mails()
        per_message = Counter((tuple(m.rcpt_tos), m.subject) for m in mails)
        duplicates = {k: n for k, n in per_message.items() if n > 1}
        # At most the one mail in flight at the kill can repeat, and it is recognisable by its Message-ID.
        assert sum(n - 1 for n in duplicates.values()) <= 1, duplicates
        ids = Counter(m.message["Message-ID"] for m in mails)
        assert sum(n - 1 for n in ids.values()) == sum(n - 1 for n in duplicates.values())
        assert len(mails) in (6, 7) and sent_before >= 3
        assert world.service.starts == 2
    finally:
        smtp.stop()


def test_smtp_down_leaves_visible_error_and_outbox_catches_up(world_factory: Any, smtp_server: SmtpServer) -> None:
    port = free_port()  # nothing listens here yet
    world = world_factory(smtp_server, clock=MONDAY_10, smtp_port=port)
    world.service.start()
    reply = world.file(expected_end="2026-11-23T15:00:00+01:00")
    errors = world.wait_until(lambda: world.incident(reply["id"])["errors"], what="visible SMTP error")
    assert any("SMTP" in e["error"] for e in errors), errors
    # The service keeps serving: the status page, the form and new reports work.
    with urllib.request.urlopen(world.service.base_url + "/status", timeout=5) as resp:
        assert resp.status == 200 and "EOJ-systemet er nede" in resp.read().decode()
    second = world.file(cause="Anden fejl", expected_end="2026-11-23T11:00:00+01:00")
    late = SmtpServer(port=port).start()
    try:
        # 2 receipts + 3 notices for the first, 2 receipts for the second: nothing lost.
        late.catcher.wait_for(7, timeout=20)
        world.wait_until(lambda: not world.incident(reply["id"])["errors"], what="errors cleared after delivery")
        assert recipients([m for m in late.catcher.mails if m.subject.startswith("[EDI-nedbrud]")]) == sorted(
            HOSPITALS | {MAILBOX[ODENSE]}
        )
        assert world.incident(second["id"])["errors"] == []
        time.sleep(1.0)
        assert len(late.catcher.mails) == 7
    finally:
        late.stop()


def test_webhooks_signed_and_unreachable_one_is_a_visible_error(
    world_factory: Any, smtp_server: SmtpServer, receiver: Receiver
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    world = world_factory(smtp_server, clock=MONDAY_10, webhooks=[receiver.url, dead])
    world.service.start()
    reply = world.file(expected_end="2026-11-23T15:00:00+01:00")
    world.wait_until(lambda: receiver.received, what="webhook delivery")
    hook = receiver.received[0]
    signature = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Edigate-Signature"] == signature
    payload = json.loads(hook.body)
    assert payload["notice"] == "first" and payload["incident"]["id"] == reply["id"]
    assert payload["next_status_at"] is not None
    errors = world.wait_until(lambda: world.incident(reply["id"])["errors"], what="webhook error")
    assert errors[0]["channel"] == "webhook" and errors[0]["address"] == dead
    assert "webhook kan ikke nås" in errors[0]["error"]
    # The mail went out regardless.
    world.wait_until(lambda: len(world.notices("[EDI-nedbrud]")) == 3, what="mails despite the dead webhook")


def test_refused_address_is_recorded_on_the_incident(world_factory: Any, smtp_server: SmtpServer) -> None:
    smtp_server.catcher.refuse = {MAILBOX[ASSENS]}
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    reply = world.file(
        token="region",
        cause="Cosmic nede",
        affected_organisations=[ODENSE, ASSENS],
        expected_end="2026-11-23T15:00:00+01:00",
    )
    errors = world.wait_until(lambda: world.incident(reply["id"])["errors"], what="refusal")
    assert errors == [{"channel": "mail", "address": MAILBOX[ASSENS], "status": "refused", "error": errors[0]["error"]}]
    assert "550" in errors[0]["error"]
    world.wait_until(lambda: world.notices("[EDI-nedbrud]"), what="the accepted notice")
    assert recipients(world.notices("[EDI-nedbrud]")) == [MAILBOX[ODENSE]]  # narrowed by affected orgs
    # The incident page shows the refusal to a human.
    detail = world.incident(reply["id"])
    assert any(a["action"] == "adresse-afvist" for a in detail["audit"])
    # The resolved notice goes only to those who received the notice.
    world.set_clock("2026-11-23T11:00:00+01:00")
    assert world.call("POST", f"/api/v1/incidents/{reply['id']}/resolve", {}, token="region")[0] == 200
    resolved = world.wait_until(lambda: world.notices("[Løst]"), what="resolved notice")
    time.sleep(0.8)
    assert recipients(world.notices("[Løst]")) == [MAILBOX[ODENSE]] == recipients(resolved)


def test_starttls_required_never_sends_in_clear(world_factory: Any, smtp_server: SmtpServer) -> None:
    """The catcher offers no STARTTLS; with starttls = "required" nothing is sent and the error is visible."""
    world = world_factory(smtp_server, clock=MONDAY_10)
    text = world.service.config_path.read_text(encoding="utf-8")
    world.service.config_path.write_text(
        text.replace("timeout_seconds = 3", 'timeout_seconds = 3\nstarttls = "required"'), encoding="utf-8"
    )
    world.service.start()
    reply = world.file(expected_end="2026-11-23T15:00:00+01:00")
    errors = world.wait_until(lambda: world.incident(reply["id"])["errors"], what="STARTTLS error")
    assert any("STARTTLS" in e["error"] or "starttls" in e["error"].lower() for e in errors), errors
    time.sleep(0.5)
    assert world.mails() == []
