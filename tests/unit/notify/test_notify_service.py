"""The service on a real SQLite file without HTTP: an auto-detected draft sends nothing until confirmed;
the scheduler records each notice once even when two instances evaluate the same incident."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage
from notify.config import NotifySettings
from notify.incidents import Actor
from notify.service import NotifyService
from tests.unit.notify.test_notify_world import ODENSE, ORGS, T0

ADMIN = Actor("admin", True)


async def _service(tmp_path: Path, now: list) -> tuple[NotifyService, Database]:  # type: ignore[type-arg]
    db = Database.open(f"sqlite:///{tmp_path / 'n.db'}")
    await db.migrate()
    settings = NotifySettings.model_validate({"mail": {"kind": "directory", "directory": str(tmp_path / "mail")}})
    return NotifyService(settings=settings, storage=SqlNotifyStorage(db), clock=lambda: now[0], organisations=ORGS), db


async def test_draft_sends_nothing_until_confirmed(tmp_path: Path) -> None:
    now = [T0]
    svc, db = await _service(tmp_path, now)
    try:
        draft = await svc.open_draft_incident(
            cause="Ingen kvitteringer fra Odense i 30 min",
            affected_organisations=[ODENSE.ean],
            start=T0 - timedelta(hours=3),
        )
        assert draft.state == "draft"
        await svc.scheduler.run_once()
        assert await svc.storage.notices_for(draft.id) == []
        confirmed = await svc.confirm_incident(ADMIN, draft.id)
        assert confirmed.state == "open"
        await svc.scheduler.run_once()
        kinds = [n.kind for n in await svc.storage.notices_for(draft.id)]
        assert kinds == ["receipt", "first"]  # overrun: started 3 h ago, still unresolved
        # A second scheduler instance evaluating stale facts records nothing new.
        other = NotifyService(settings=svc.settings, storage=svc.storage, clock=lambda: now[0], organisations=ORGS)
        await other.scheduler.run_once()
        assert [n.kind for n in await svc.storage.notices_for(draft.id)] == kinds
        await svc.resolve_auto_incident(draft.id)
        await svc.scheduler.run_once()
        assert [n.kind for n in await svc.storage.notices_for(draft.id)] == [*kinds, "resolved"]
        sent = await svc.outbox.send_due()
        assert sent and len(list((tmp_path / "mail").glob("*.eml"))) == len(await svc.storage.outbox_for(draft.id))
    finally:
        await db.close()
