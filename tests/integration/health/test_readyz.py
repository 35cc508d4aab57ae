"""/readyz: ready depends on storage only, but it reports the mail server and each push receiver, so on-call
sees what is reachable. The real service, the real SMTP server and the real receiver."""

from __future__ import annotations

from typing import Any

from tests.integration.health.conftest import HOSPITAL, MUNICIPALITY, World
from tests.unit.medcom.samples import xdis91_message


def test_readyz_reports_smtp_and_receivers(world_factory: Any) -> None:
    world: World = world_factory()
    reply = world.call("GET", "/readyz", token=None)
    assert reply.status == 200, reply
    assert reply.body["smtp"] == "ok"
    assert reply.body["receivers"][MUNICIPALITY] == "closed"

    world.receiver.mode = "fail"
    for i in range(4):
        world.post_message(xdis91_message(envelope_id=f"ENVRDY{i:04d}", letter_id=f"LETRDY{i:04d}"))
    world.wait_until(
        lambda: world.call("GET", "/readyz", token=None).body["receivers"][MUNICIPALITY] != "closed",
        what="the receiver's circuit to open",
    )
    world.smtp.stop()
    reply = world.call("GET", "/readyz", token=None)
    assert reply.status == 200, "a down receiver or mail server must not make the gateway unready"
    assert reply.body["smtp"] == "unreachable"
    assert reply.body["components"]["storage"] == "ok"
    assert HOSPITAL not in reply.body["receivers"] or reply.body["receivers"][HOSPITAL] in ("closed", "open")
