"""The outbox's per-row lease on real databases (a SQLite file and the real PostgreSQL).

For a moment after the leader's lock connection is cut, two instances may both run the outbox sender.
These tests race claimers (asyncio tasks; on PostgreSQL also separate engines, so separate connections)
over the same rows and check that a row is held, and so sent, by one sender at a time; that a lease runs
out and the row can then be taken again; that only the holder can mark a row. (A database made before the lease
columns is upgraded in place: tests/integration/migrations/test_landed_steps.py.)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage, outbox
from notify.config import MailSettings, NotifySettings
from notify.model import AuditEntry, NewIncident, NewOutboxRow, OutboxRow
from notify.outbox import OutboxSender
from tests.harness.smtp import SmtpServer
from tests.unit.notify.test_notify_world import T0, incident

LEASE = timedelta(seconds=60)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'lease.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def stores(db_url: str) -> AsyncIterator[tuple[SqlNotifyStorage, SqlNotifyStorage]]:
    """Two storages on one database through two engines: two instances' connection pools."""
    first, second = Database.open(db_url), Database.open(db_url)
    await first.migrate()
    await second.migrate()
    try:
        yield SqlNotifyStorage(first), SqlNotifyStorage(second)
    finally:
        await first.close()
        await second.close()


async def seed(store: SqlNotifyStorage, rows: int, *, not_before: datetime = T0, key: str = "k") -> list[OutboxRow]:
    """One incident with one notice of `rows` pending mail rows."""
    i = incident()
    new = NewIncident(**{f: getattr(i, f) for f in NewIncident.__dataclass_fields__})
    stored = await store.create_incident(new, [AuditEntry(T0, "x", "indberettet")])
    notice = await store.record_notice(
        incident_id=stored.id,
        kind="first",
        dedupe_key=f"incident:{stored.id}:{key}",
        created_at=T0,
        subject="emne",
        next_status_at=None,
        rows=[NewOutboxRow("mail", f"m{n}@x.example", "liste", "emne", "tekst") for n in range(rows)],
        audit=[],
        not_before=not_before,
    )
    assert notice is not None
    return await store.outbox_for(stored.id)


async def claim(store: SqlNotifyStorage, owner: str, now: datetime, limit: int = 100) -> list[int]:
    rows = await store.claim_outbox(now, channel="mail", owner=owner, lease_until=now + LEASE, limit=limit)
    return [r.id for r in rows]


async def holders(store: SqlNotifyStorage) -> dict[int, str | None]:
    async with store.engine.connect() as conn:
        return {r.id: r.leased_by for r in await conn.execute(sa.select(outbox.c.id, outbox.c.leased_by))}


async def test_racing_claimers_get_every_row_exactly_once(
    stores: tuple[SqlNotifyStorage, SqlNotifyStorage],
) -> None:
    a, b = stores
    ids = [r.id for r in await seed(a, 40)]
    got: dict[str, list[int]] = {}

    async def claimer(store: SqlNotifyStorage, owner: str) -> None:
        got[owner] = []
        while batch := await claim(store, owner, T0, limit=3):
            got[owner] += batch
            await asyncio.sleep(0)

    await asyncio.gather(*(claimer(s, f"{s_name}{n}") for n in range(2) for s, s_name in ((a, "a"), (b, "b"))))
    counts = Counter(i for batch in got.values() for i in batch)
    assert sorted(counts) == ids and set(counts.values()) == {1}, counts
    owner_of = {i: owner for owner, batch in got.items() for i in batch}
    assert await holders(a) == owner_of  # the row says who holds it, as the claimer was told


async def test_same_rows_raced_again_after_each_lease_runs_out(
    stores: tuple[SqlNotifyStorage, SqlNotifyStorage],
) -> None:
    a, b = stores
    ids = [r.id for r in await seed(a, 10)]
    for round_ in range(8):
        now = T0 + round_ * (LEASE + timedelta(seconds=1))  # every earlier lease has run out
        first, second = await asyncio.gather(claim(a, "a", now), claim(b, "b", now))
        assert sorted(first + second) == ids and not set(first) & set(second), (round_, first, second)
        assert await claim(a, "late", now + LEASE / 2) == []  # still leased: nothing for anyone


async def test_lease_blocks_until_it_runs_out_and_only_the_holder_marks(
    stores: tuple[SqlNotifyStorage, SqlNotifyStorage],
) -> None:
    a, b = stores
    rows = await seed(a, 2)
    row, other = rows[0].id, rows[1].id
    assert await claim(a, "a", T0) == [row, other]
    assert await claim(b, "b", T0 + LEASE - timedelta(seconds=1)) == []  # before expiry: nothing
    assert await claim(b, "b", T0 + LEASE) == []  # the lease is good up to and including lease_until
    later = T0 + LEASE + timedelta(seconds=1)
    assert await claim(b, "b", later) == [row, other]  # "a" died mid-send: "b" retries both

    audit = [AuditEntry(T0, "edigate", "mail-fejlet", "x", incident_id=rows[0].incident_id)]
    assert not await a.mark_sent(row, later, owner="a")  # "a" no longer holds the row: nothing changes
    assert not await a.mark_retry(row, "x", later, owner="a")
    assert not await a.mark_failed(row, "x", audit, owner="a")
    assert not await a.mark_refused(row, "x", audit, owner="a")
    assert not await a.renew_outbox(row, owner="a", lease_until=later + LEASE)
    assert await a.release_outbox("a") == 0
    unchanged = (await a.outbox_for(rows[0].incident_id or 0))[0]
    assert (unchanged.status, unchanged.attempts, unchanged.last_error) == ("pending", 0, None)
    assert [e.action for e in await a.audit_for(incident_id=rows[0].incident_id)] == ["indberettet"]

    assert await b.mark_sent(row, later, owner="b")  # the holder marks it; the lease is cleared
    assert not await b.mark_sent(row, later, owner="b")  # once
    assert (await holders(a))[row] is None
    assert await b.mark_retry(other, "421 prøv igen", later + timedelta(seconds=2), owner="b")
    assert (await holders(a))[other] is None
    assert await claim(a, "a", later + timedelta(seconds=1)) == []  # backing off, not leased
    assert await claim(a, "a", later + timedelta(seconds=2)) == [other]  # due again: retried
    sent, retried = await a.outbox_for(rows[0].incident_id or 0)
    assert (sent.status, sent.attempts, retried.status, retried.attempts) == ("sent", 1, "pending", 1)


async def test_release_and_recover_free_leases(stores: tuple[SqlNotifyStorage, SqlNotifyStorage]) -> None:
    a, b = stores
    ids = [r.id for r in await seed(a, 3)]
    assert await claim(a, "a", T0, limit=2) == ids[:2]
    assert await claim(b, "b", T0) == ids[2:]
    assert await a.release_outbox("a") == 2  # a pass that stopped early: its rows are due at once
    assert await claim(b, "b2", T0) == ids[:2]
    recovered = await a.recover_outbox()
    if a.db.dialect == "sqlite":  # one process per file: every lease is a dead process's
        assert recovered == 3 and await claim(a, "a", T0) == ids
    else:  # another live instance may hold them: wait for the leases to run out
        assert recovered == 0 and await claim(a, "a", T0) == []


async def test_two_senders_on_one_database_mail_each_row_once(
    stores: tuple[SqlNotifyStorage, SqlNotifyStorage], smtp_server: SmtpServer
) -> None:
    """Two leaders at once (the window after a cut lock connection): every notice mail goes out once."""
    a, b = stores
    rows = await seed(a, 12, not_before=datetime.now(UTC) - timedelta(seconds=1))
    mail = MailSettings(kind="smtp", host="127.0.0.1", port=smtp_server.port, timeout_seconds=3)
    settings = NotifySettings(mail=mail)
    senders = [OutboxSender(store, settings, lambda: datetime.now(UTC)) for store in (a, b, a, b)]
    assert len({s.owner for s in senders}) == len(senders)

    async def drain(sender: OutboxSender) -> None:
        while await sender.send_due():
            pass

    await asyncio.gather(*(drain(s) for s in senders))
    ids = Counter(m.message["Message-ID"] for m in smtp_server.catcher.mails)
    assert ids == Counter(r.message_id for r in rows), ids  # each row's mail exactly once
    after = await b.outbox_for(rows[0].incident_id or 0)
    assert {(r.status, r.attempts) for r in after} == {("sent", 1)}
    assert set((await holders(a)).values()) == {None}
