"""The SQL storage on a real SQLite file: a notice is stored once per dedupe key, with all its outbox rows
in the same transaction, so two scheduler instances (or a restart) never record it twice."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage
from notify.model import AlertMailKey, AuditEntry, NewIncident, NewOutboxRow
from tests.unit.notify.test_notify_world import T0, incident


async def test_record_notice_is_idempotent_and_atomic(tmp_path: Path) -> None:
    db = Database.open(f"sqlite:///{tmp_path / 'n.db'}")
    await db.migrate()
    store = SqlNotifyStorage(db)
    try:
        i = incident()
        new = NewIncident(**{f: getattr(i, f) for f in NewIncident.__dataclass_fields__})
        stored = await store.create_incident(new, [AuditEntry(T0, "x", "indberettet")])
        rows = [NewOutboxRow("mail", f"m{n}@x.example", "liste", "emne", "tekst") for n in range(3)]
        kw = dict(
            incident_id=stored.id,
            kind="first",
            dedupe_key="incident:1:opening",
            created_at=T0,
            subject="emne",
            next_status_at=T0,
            audit=[],
            not_before=T0,
        )
        first = await store.record_notice(rows=rows, **kw)  # type: ignore[arg-type]
        again = await store.record_notice(rows=rows, **kw)  # type: ignore[arg-type]
        assert first is not None and again is None
        outbox = await store.outbox_for(stored.id)
        assert len(outbox) == 3 and len({r.message_id for r in outbox}) == 3
        assert all(r.status == "pending" and r.notice_kind == "first" for r in outbox)
        claimed = await store.claim_outbox(T0, channel="mail", owner="a", lease_until=T0 + timedelta(minutes=1))
        assert [r.id for r in claimed] == [r.id for r in outbox]
        assert await store.mark_sent(outbox[0].id, T0, owner="a")
        assert await store.release_outbox("a") == 2
        due = await store.claim_outbox(T0, channel="mail", owner="b", lease_until=T0 + timedelta(minutes=1))
        assert [r.id for r in due] == [r.id for r in outbox[1:]]
        assert [a.action for a in await store.audit_for(incident_id=stored.id)] == ["indberettet"]
    finally:
        await db.close()


async def test_last_alerts_finds_a_keys_alert_mails_by_their_one_key_format(tmp_path: Path) -> None:
    """The gateway port keys an alert mail `AlertMailKey(kind, key, at)`; the storage finds a key's newest
    alert and recovered mail by the same type, and a key is matched as written (`_` and `%` are no
    wildcards): another receiver's alert never silences this one's after a restart."""
    db = Database.open(f"sqlite:///{tmp_path / 'n.db'}")
    await db.migrate()
    store = SqlNotifyStorage(db)
    key = "receiver:5790000000111"
    try:
        for kind, at in (("alert", T0), ("alert-recovered", T0 + timedelta(minutes=5))):
            await store.record_notice(
                rows=[NewOutboxRow("mail", "vagt@x.example", "vagt:on-call", "emne", "tekst")],
                incident_id=None,
                kind=kind,
                dedupe_key=str(AlertMailKey(kind, key, at)),
                created_at=at,
                subject="emne",
                next_status_at=None,
                audit=[],
                not_before=at,
            )
        assert await store.last_alerts(key) == (T0, T0 + timedelta(minutes=5))
        assert await store.last_alerts("receiver:579000000011_") == (None, None)
        assert await store.last_alerts("receiver:%") == (None, None)
    finally:
        await db.close()
