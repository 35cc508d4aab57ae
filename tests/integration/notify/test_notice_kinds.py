"""Every notice kind the procedure sends is stored, on SQLite and on the real PostgreSQL.

PostgreSQL enforces a VARCHAR's length and SQLite does not, so a new, longer kind ("reporter-resolved", 17
characters in a VARCHAR(16)) passed every SQLite test and was a 500 on PostgreSQL. The column is VARCHAR(32);
a database made before that is widened in place (tests/integration/migrations/test_landed_steps.py).
"""

from __future__ import annotations

from typing import get_args

from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage
from notify.model import AuditEntry, NewIncident, NewOutboxRow, NoticeKind
from tests.unit.notify.test_notify_world import T0, incident


async def _incident_id(store: SqlNotifyStorage) -> int:
    i = incident()
    new = NewIncident(**{f: getattr(i, f) for f in NewIncident.__dataclass_fields__})
    return (await store.create_incident(new, [AuditEntry(T0, "x", "indberettet")])).id


async def _record(store: SqlNotifyStorage, incident_id: int, kind: str) -> None:
    notice = await store.record_notice(
        incident_id=incident_id,
        kind=kind,
        dedupe_key=f"incident:{incident_id}:{kind}",
        created_at=T0,
        subject=f"emne {kind}",
        next_status_at=None,
        rows=[NewOutboxRow("mail", "drift@x.example", "liste", f"emne {kind}", "tekst")],
        audit=[],
        not_before=T0,
    )
    assert notice is not None, kind


async def test_every_notice_kind_is_stored_and_read_back(storage_url: str) -> None:
    db = Database.open(storage_url)
    try:
        await db.migrate()
        store = SqlNotifyStorage(db)
        incident_id = await _incident_id(store)
        kinds = get_args(NoticeKind)
        for kind in kinds:
            await _record(store, incident_id, kind)
        assert [n.kind for n in await store.notices_for(incident_id)] == list(kinds)
        assert [r.notice_kind for r in await store.outbox_for(incident_id)] == list(kinds)
    finally:
        await db.close()
