"""Which automatic incident an outage joins is answered behind the port only (the procedure's storage), so
a draft the desk has closed is never joined again: a further outage of the same receiver opens a new draft.
Real SQLite, the real notify service and port, the real health loop."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from edigate.health import EventKind, HealthEvent, HealthState, HealthThresholds
from edigate.monitor import HealthLoop, HealthLoopSettings
from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage
from notify.config import NotifySettings
from notify.gateway_port import GatewayPort
from notify.incidents import Actor
from notify.service import NotifyService
from tests.unit.notify.test_notify_world import KOLDING, ORGS, OUH, SLB, T0

ADMIN = Actor("admin", True)


def down(kind: EventKind, routes: tuple[tuple[str, str], ...], minutes: int) -> HealthEvent:
    at = T0 + timedelta(minutes=minutes)
    return HealthEvent(kind, at, KOLDING.ean, routes, HealthState.DOWN, at, 1, at, "HTTP 503", ("XDIS91",), ())


async def test_a_closed_draft_is_not_joined_by_the_next_outage(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'n.db'}")
    await db.migrate()
    try:
        settings = NotifySettings.model_validate({"mail": {"kind": "directory", "directory": str(tmp_path / "m")}})
        service = NotifyService(settings=settings, storage=SqlNotifyStorage(db), clock=lambda: T0, organisations=ORGS)
        loop = HealthLoop(
            database=db,
            clock=lambda: T0,
            receivers=[KOLDING.ean],
            settings=HealthLoopSettings(HealthThresholds()),
            outage=GatewayPort(service),
        )
        first = down(EventKind.ROUTE_DOWN, ((OUH.ean, KOLDING.ean),), 0)
        await loop._act(first, first.at)
        (draft,) = await service.storage.list_incidents()
        assert draft.state == "draft" and loop.incidents == {first.key: draft.id}

        # the desk closes the draft (a false alarm) while the route still counts as down here
        closed = await service.resolve_incident(ADMIN, draft.id, {"text": "Fejlalarm"})
        assert closed.state == "closed"

        # now every route into the receiver goes down: a new draft, not the closed one
        wider = down(EventKind.RECEIVER_DOWN, ((OUH.ean, KOLDING.ean), (SLB.ean, KOLDING.ean)), 10)
        await loop._act(wider, wider.at)
        incidents = {i.id: i for i in await service.storage.list_incidents()}
        assert len(incidents) == 2, incidents
        new = loop.incidents[wider.key]
        assert new != draft.id and incidents[new].state == "draft"
        assert incidents[new].affected_organisations[:1] == (KOLDING.ean,)

        # a further route of the same outage joins the open draft instead of opening a third
        again = down(EventKind.ROUTE_DOWN, ((SLB.ean, KOLDING.ean),), 12)
        await loop._act(again, again.at)
        assert len(await service.storage.list_incidents()) == 2 and loop.incidents[again.key] == new
    finally:
        await db.close()
