"""Issue 5, end to end: a receiver that starts failing is detected, on-call is alerted, a draft incident is
opened, confirmed and announced in the window, and everything is undone when the receiver comes back.

The real `edigate serve` subprocess, the real HTTP receiver, the real SMTP server. The service's clock starts
on a Tuesday at 10:00 (inside the 08-22 notice window and EDI support hours) and runs at real speed.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from tests.integration.health.conftest import (
    EDI_SUPPORT,
    HOSPITAL,
    MAILBOX,
    MUNICIPALITY,
    ON_CALL,
    World,
    metric_value,
)
from tests.unit.medcom.samples import xdis91_message

DOWN_AFTER = 5.0  # seconds unreachable, as configured in conftest.config_text


def alert_mails(world: World, marker: str) -> list[Any]:
    return [m for m in world.mails() if m.subject.startswith("[edigate]") and marker in m.subject]


def to(world: World, address: str) -> list[Any]:
    return [m for m in world.mails() if address in m.rcpt_tos]


def test_receiver_outage_alert_incident_notice_and_recovery(world_factory: Any) -> None:
    world: World = world_factory()
    world.receiver.mode = "fail"

    reply = world.post_message(xdis91_message(envelope_id="ENVOUT0001", letter_id="LETOUT0001"))
    assert reply.status == 202, reply
    world.wait_until(lambda: world.receiver.attempts >= 1, what="the first failed delivery")
    first_failure = time.monotonic()

    # not down before the configured time: one failure is not an outage
    time.sleep(1.0)
    early = world.route(HOSPITAL, MUNICIPALITY)
    assert early is None or early["state"] != "down", early

    # down within the configured time (5 s unreachable), plus a few monitor ticks of slack
    route = world.wait_until(
        lambda: (r := world.route(HOSPITAL, MUNICIPALITY)) and r["state"] == "down" and r,
        timeout=30,
        what="the route to go down",
    )
    took = time.monotonic() - first_failure
    assert DOWN_AFTER - 0.5 <= took <= DOWN_AFTER + 10, took  # ticks every 0.3 s; slack for a busy CI
    assert route["pending_count"] == 1 and "XDIS91" in route["types"]
    assert any(r["code"] in ("unreachable", "receiver_down") for r in route["reasons"]), route
    assert route["last_error"] and route["failing_since"]

    # exactly one alert mail, to EDI support (Tuesday 10:00 is inside support hours), at once
    # exactly one, however long the monitor ticks on: checked once the recovered mail proves it did
    alert = world.wait_until(lambda: alert_mails(world, "NEDE"), what="the alert mail")[0]
    assert alert.rcpt_tos == [EDI_SUPPORT] and ON_CALL not in alert.rcpt_tos
    body = alert.text()
    assert "Testkommune" in alert.subject
    assert "Ventende meddelelser: 1" in body.replace("  ", " ") or "Ventende meddelelser:" in body
    assert "XDIS91" in body and "udkast" in body.lower()
    assert "/incidents/1" in body and "Arbejdsliste:" in body  # the draft links from the alert mail

    # a draft acute incident, linked to the receiver, with the pending type and start = first failure
    incidents = world.call("GET", "/api/v1/incidents").body["incidents"]
    assert len(incidents) == 1, incidents
    incident = incidents[0]
    assert incident["state"] == "draft" and incident["kind"] == "acute"
    assert incident["affected_organisations"] == [MUNICIPALITY, HOSPITAL]  # the sender is told too
    assert incident["affected_messages"] == ["XDIS91"]
    start = datetime.fromisoformat(incident["start"].replace("Z", "+00:00"))
    failing_since = datetime.fromisoformat(route["failing_since"])
    assert abs(start - failing_since) < timedelta(seconds=1), (start, failing_since)
    assert not to(world, MAILBOX[MUNICIPALITY]), "a draft must not notify the lists"

    # on-call confirms with an expected downtime over 2 h: the notice goes out (inside the window)
    expected_end = (start + timedelta(hours=3)).isoformat()
    r = world.post_json(
        f"/api/v1/incidents/{incident['id']}/updates",
        {"text": "Kommunens EDI-modtagelse er nede.", "expected_end": expected_end},
    )
    assert r.status == 200, r
    r = world.post_json(f"/api/v1/incidents/{incident['id']}/confirm", {})
    assert r.status == 200 and r.body["state"] == "open", r
    notice = world.wait_until(lambda: to(world, MAILBOX[MUNICIPALITY]), what="the first notice")[0]
    assert "[edigate]" not in notice.subject  # a procedure notice, not an IT alert
    # the hospital sending to the failed municipality gets it too (it must phone the duty phone)
    world.wait_until(lambda: to(world, MAILBOX[HOSPITAL]), what="the first notice to the sending hospital")

    # the receiver comes back: delivered, recovered mail, incident resolved, resolved notice, metrics ok
    world.receiver.mode = "ok"
    world.receiver.wait_for(1, timeout=30)
    world.wait_until(lambda: alert_mails(world, "OK igen"), timeout=30, what="the recovered mail")
    recovered = alert_mails(world, "OK igen")
    assert len(recovered) == 1 and recovered[0].rcpt_tos == [EDI_SUPPORT]
    world.wait_until(
        lambda: world.call("GET", f"/api/v1/incidents/{incident['id']}").body["state"] == "resolved",
        what="the incident to be resolved",
    )
    world.wait_until(lambda: len(to(world, MAILBOX[MUNICIPALITY])) >= 2, what="the resolved notice")
    assert world.route(HOSPITAL, MUNICIPALITY)["state"] == "ok"  # type: ignore[index]
    text = world.metrics()
    route_labels = {"sender": HOSPITAL, "receiver": MUNICIPALITY}
    assert metric_value(text, "edigate_route_state", **route_labels, state="ok") == 1
    assert metric_value(text, "edigate_route_state", **route_labels, state="down") == 0
    assert metric_value(text, "edigate_queue_depth", receiver=MUNICIPALITY) == 0
    assert len(alert_mails(world, "NEDE")) == 1, [m.subject for m in world.mails()]  # exactly one alert

    def sent(kind: str) -> float:
        return metric_value(world.metrics(), "edigate_notices_sent_total", kind=kind) or 0

    # one mail per recipient: the municipality and the hospital sending to it get the notices
    world.wait_until(lambda: sent("recovered") == 1 and sent("resolved") == 2, what="notices-sent counters")
    assert (sent("alert"), sent("notice"), sent("receipt")) == (1, 2, 1)
