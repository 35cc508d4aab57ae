"""Issue 12 item 12: "Endvidere vil der i givne tilfælde foretages opslag på sundhed.dk via VisInfoSyd."

The desk flags an incident; that is a task with the text to post, listed for the desk, and marking it done
records who and when, all in the incident's audit trail. Only the desk may do it; a reporter may not; a
second request or a second "done" is refused with a reason, not stored twice. (Drafts: the unit test of
`check_action`; the pages: tests/browser/test_desk_pages.py.)
"""

from __future__ import annotations

from typing import Any

from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import ASSENS, REGION, NotifyWorld

MONDAY_10 = "2026-11-23T10:00:00+01:00"


def test_the_desk_orders_a_sundhed_dk_post_and_marks_it_done(world_factory: Any, smtp_server: SmtpServer) -> None:
    world: NotifyWorld = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    incident = world.file(
        token="region",
        role="regional-it",
        reporting_organisation=REGION,
        cause="Cloverleaf opgraderes",
        affected_organisations=[ASSENS],
        expected_end="2026-11-23T15:00:00+01:00",
    )
    path = f"/api/v1/incidents/{incident['id']}/visinfosyd"

    # nothing ordered yet
    assert world.call("GET", "/api/v1/visinfosyd?open=1", token="region")[1]["tasks"] == []
    # a reporter is not the desk
    status, body = world.call("POST", path, {"action": "request"}, token="odense")
    assert status == 403 and "sundhed.dk" in body["fejl"]
    assert world.call("GET", "/api/v1/visinfosyd", token="odense")[0] == 403
    # bad input: a clear 4xx
    assert world.call("POST", path, {"action": "slå op"}, token="region")[0] == 422
    assert world.call("POST", "/api/v1/incidents/999/visinfosyd", {"action": "request"}, token="region")[0] == 404
    status, body = world.call("POST", path, {"action": "done"}, token="region")
    assert status == 409 and "ikke bestilt" in body["fejl"]

    status, body = world.call("POST", path, {"action": "request"}, token="region")
    assert status == 200, body
    task = body["task"]
    assert task["requested_by"] == "Regional IT" and task["done_at"] is None
    text = task["text"]
    assert text.startswith("Akut nedbrud: Cloverleaf opgraderes")
    assert "Assens Kommune" in text and "Næste status senest mandag 23. november 2026" in text
    assert f"/status/incidents/{incident['id']}" in text  # the public page, which needs no login
    assert "vagttelefonen" in text

    status, body = world.call("POST", path, {"action": "request"}, token="admin")
    assert status == 409 and "allerede bestilt" in body["fejl"]
    (listed,) = world.call("GET", "/api/v1/visinfosyd?open=1", token="admin")[1]["tasks"]
    assert listed["incident_id"] == incident["id"] and listed["text"] == text

    world.set_clock("2026-11-23T10:20:00+01:00")
    status, body = world.call("POST", path, {"action": "done"}, token="admin")
    assert status == 200, body
    assert body["task"]["done_by"] == "administrator"
    assert body["task"]["done_at"].startswith("2026-11-23T09:20:00")  # UTC
    assert world.call("GET", "/api/v1/visinfosyd?open=1", token="admin")[1]["tasks"] == []
    assert world.call("GET", "/api/v1/visinfosyd", token="admin")[1]["tasks"][0]["done_by"] == "administrator"
    assert world.call("POST", path, {"action": "done"}, token="admin")[0] == 409
    assert world.call("POST", path, {"action": "withdraw"}, token="admin")[0] == 409

    audit = [(a["actor"], a["action"]) for a in world.incident(incident["id"])["audit"]]
    assert ("Regional IT", "sundhed.dk bestilt") in audit
    assert ("administrator", "sundhed.dk udført") in audit


def test_an_order_can_be_withdrawn_before_it_is_done(world_factory: Any, smtp_server: SmtpServer) -> None:
    world: NotifyWorld = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    incident = world.file(cause="EOJ-systemet er nede", expected_end="2026-11-23T15:00:00+01:00")
    path = f"/api/v1/incidents/{incident['id']}/visinfosyd"
    assert world.call("POST", path, {"action": "withdraw"}, token="admin")[0] == 409
    assert world.call("POST", path, {"action": "request"}, token="admin")[0] == 200
    status, body = world.call("POST", path, {"action": "withdraw"}, token="admin")
    assert status == 200 and body["task"] is None
    assert world.call("GET", "/api/v1/visinfosyd", token="admin")[1]["tasks"] == []
    # the scheduler audits its notices meanwhile, in its own time: look at the sundhed.dk steps only
    actions = [a["action"] for a in world.incident(incident["id"])["audit"] if a["action"].startswith("sundhed.dk")]
    assert actions == ["sundhed.dk bestilt", "sundhed.dk fravalgt"]
