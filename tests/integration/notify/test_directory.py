"""Issue 12 item 8: mailboxes, lists (clusters) and contacts change without a restart, audited.

"De enkelte kommuner/sygehuse har tillige ansvaret for … at melde ændringer i mailadresser til
EDI-servicedesk": the desk records Kolding's new functional mailbox through the API, and the next notice goes
there (real SMTP, no restart); the contacts card shows a new duty phone; each change is in the log with who,
when, before and after; the edits survive a restart (the TOML stays the seed); a second instance on the
same database takes them over within seconds. Bad input is a 4xx with a Danish reason and stores nothing.
"""

from __future__ import annotations

from typing import Any

from tests.harness.http import request
from tests.harness.ports import free_port
from tests.harness.service import Service
from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import KOLDING, MAILBOX, NotifyWorld, recipients

NEW_MAILBOX = "ny-edi@kolding.example"


def test_mailbox_clusters_and_contacts_change_without_restart(world_factory: Any, smtp_server: SmtpServer) -> None:
    world: NotifyWorld = world_factory(smtp_server, clock="2026-11-23T10:00:00+01:00")
    world.service.start()
    org_path = f"/api/v1/directory/organisations/{KOLDING}"

    status, body = world.call("GET", "/api/v1/directory", token="admin")
    assert status == 200, body
    kolding = next(o for o in body["organisations"] if o["ean"] == KOLDING)
    assert kolding["mailbox"] == MAILBOX[KOLDING] and kolding["changed_by"] is None

    # refused, with a reason, and nothing stored
    assert world.call("PUT", org_path, {"mailbox": NEW_MAILBOX}, token="odense")[0] == 403
    assert world.call("PUT", org_path, {"mailbox": NEW_MAILBOX}, token=None)[0] == 401
    status, body = world.call("PUT", org_path, {"mailbox": "ikke en adresse"}, token="admin")
    assert status == 422 and "Funktionspostkasse" in body["fejl"], body
    status, body = world.call("PUT", org_path, {"mailbox": "a@b.example\r\nBcc: x@evil.example"}, token="admin")
    assert status == 422, body
    assert world.call("PUT", org_path, {"postkasse": NEW_MAILBOX}, token="admin")[0] == 422
    assert world.call("PUT", org_path, raw=b"{", token="admin")[0] == 400
    assert (
        world.call("PUT", "/api/v1/directory/organisations/5799999999999", {"mailbox": NEW_MAILBOX}, token="admin")[0]
        == 404
    )
    status, body = world.call("PUT", "/api/v1/directory/contacts", {"on_call_phone": "0101901234"}, token="admin")
    assert status == 422 and "CPR" in body["fejl"], body
    assert world.call("GET", "/api/v1/directory", token="admin")[1]["history"] == []

    # Kolding reports a new functional mailbox; the desk records it
    status, body = world.call("PUT", org_path, {"mailbox": NEW_MAILBOX}, token="admin")
    assert status == 200, body
    assert body["mailbox"] == NEW_MAILBOX and body["changed_by"] == "administrator"

    # the next notice for Kolding goes to the new mailbox, not the old one: no restart
    world.file(
        token="admin",
        reporting_organisation=KOLDING,
        role="eoj",
        cause="Kolding Kommunes EOJ er nede",
        expected_end="2026-11-23T14:00:00+01:00",
    )
    world.wait_until(
        lambda: NEW_MAILBOX in recipients(world.notices("[EDI-nedbrud] Kolding")), what="the notice to Kolding"
    )
    assert MAILBOX[KOLDING] not in recipients(world.mails())

    # the contacts card: a municipality's duty phone
    contacts = {"duty_phones": {"Kolding": "75 50 15 00", "Odense": "65 51 10 00"}}
    status, body = world.call("PUT", "/api/v1/directory/contacts", contacts, token="admin")
    assert status == 200 and body["duty_phones"]["Kolding"] == "75 50 15 00", body
    card = world.call("GET", "/status/contacts", token=None)[1]
    assert "Kolding" in card and "75 50 15 00" in card

    # audited: who, when, before and after
    history = world.call("GET", "/api/v1/directory", token="admin")[1]["history"]
    assert [h["actor"] for h in history] == ["administrator", "administrator"]
    contacts_entry, mailbox_entry = history  # newest first
    assert mailbox_entry["før"]["mailbox"] == MAILBOX[KOLDING] and mailbox_entry["efter"]["mailbox"] == NEW_MAILBOX
    assert mailbox_entry["at"].startswith("2026-11-23")
    assert "Kolding" not in contacts_entry["før"]["duty_phones"]
    assert contacts_entry["efter"]["duty_phones"]["Kolding"] == "75 50 15 00"

    # a second instance on the same database takes the edits over, and so does a restart
    other_dir = world.service.workdir / "other"
    other_dir.mkdir()
    port = free_port()
    env = {**world.service.env, "EDIGATE_SERVER__LISTEN": f"127.0.0.1:{port}"}
    other = Service(config_path=world.service.config_path, port=port, workdir=other_dir, env=env)
    try:
        other.start()
        status, body = world.call("PUT", org_path, {"clusters": ["Lillebælt", "Trekantområdet"]}, token="admin")
        assert status == 200 and body["clusters"] == ["Lillebælt", "Trekantområdet"]

        def seen_by_other() -> bool:
            reply = request(other.base_url + "/api/v1/directory", "GET", token="tok-admin")
            org = next(o for o in reply.body["organisations"] if o["ean"] == KOLDING)
            return org["clusters"] == ["Lillebælt", "Trekantområdet"] and org["mailbox"] == NEW_MAILBOX

        world.wait_until(seen_by_other, timeout=15, what="the other instance to read the edit")
    finally:
        other.stop()
    world.service.stop()
    world.service.start()
    kolding = next(
        o for o in world.call("GET", "/api/v1/directory", token="admin")[1]["organisations"] if o["ean"] == KOLDING
    )
    assert kolding["mailbox"] == NEW_MAILBOX
