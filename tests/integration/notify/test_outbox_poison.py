"""One bad outbox row must never stop the mail (issue 10, finding 1), on a SQLite file and the real PostgreSQL.

Poison rows are written straight into the outbox, in front of good ones, as rows stored before addresses
were checked would be: a control character in the address (the reported case), a line break, a display
name, a space, an empty address, a subject that cannot be a header, and for webhooks URLs that cannot be
one. The real `OutboxSender` then sends through a real SMTP server (aiosmtpd) and a real HTTP receiver:
every good row arrives, each poison row is marked failed once with its reason (and an audit entry), and
the failed rows are what the support desk's listing shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage
from notify.config import MailSettings, NotifySettings, Webhook
from notify.model import AuditEntry, NewIncident, NewOutboxRow, OutboxRow
from notify.outbox import OutboxSender
from tests.harness.receiver import Receiver
from tests.harness.smtp import SmtpServer
from tests.unit.notify.test_notify_world import T0, incident

GOOD = ["edi@ouh.example", "edi@odense.example", "Hanne@odense.example"]
#: addresses no mail server can be given; each once stopped every mail behind it
POISON_ADDRESSES = ["a\x01b@example.org", "x@exa\nmple.org", "Hanne <h@odense.example>", "a b@example.org", ""]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'poison.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[SqlNotifyStorage]:
    db = Database.open(db_url)
    await db.migrate()
    try:
        yield SqlNotifyStorage(db)
    finally:
        await db.close()


async def notice_with(store: SqlNotifyStorage, rows: list[NewOutboxRow]) -> int:
    """One incident with one notice holding `rows` in this order (ids ascending: the first are sent first)."""
    i = incident()
    new = NewIncident(**{f: getattr(i, f) for f in NewIncident.__dataclass_fields__})
    stored = await store.create_incident(new, [AuditEntry(T0, "x", "indberettet")])
    notice = await store.record_notice(
        incident_id=stored.id,
        kind="first",
        dedupe_key=f"incident:{stored.id}:first",
        created_at=T0,
        subject="emne",
        next_status_at=None,
        rows=rows,
        audit=[],
        not_before=datetime.now(UTC) - timedelta(seconds=1),
    )
    assert notice is not None
    return stored.id


async def drain(sender: OutboxSender, passes: int = 10) -> None:
    """Passes until one sends nothing more (bounded, so a sender stuck on a row fails the test)."""
    for _ in range(passes):
        if not await sender.send_due():
            return


def by_address(rows: list[OutboxRow]) -> dict[str, OutboxRow]:
    return {r.address: r for r in rows}


async def test_poison_mail_rows_in_front_do_not_stop_the_mails_behind(
    store: SqlNotifyStorage, smtp_server: SmtpServer
) -> None:
    poison = list(POISON_ADDRESSES)
    if store.db.dialect == "sqlite":
        poison.append("a\x00b@example.org")  # PostgreSQL cannot even store a NUL in text
    rows = [NewOutboxRow("mail", a, "liste", "emne", "tekst") for a in poison]
    rows.append(NewOutboxRow("mail", GOOD[0], "liste", "emne\r\nBcc: victim@example.org", "tekst"))  # bad header
    rows += [NewOutboxRow("mail", a, "liste", "emne", "tekst") for a in GOOD]
    incident_id = await notice_with(store, rows)
    mail = MailSettings(kind="smtp", host="127.0.0.1", port=smtp_server.port, timeout_seconds=3)
    sender = OutboxSender(store, NotifySettings(mail=mail), lambda: datetime.now(UTC))

    await drain(sender)

    delivered = sorted(r for m in smtp_server.catcher.mails for r in m.rcpt_tos)
    assert delivered == sorted(GOOD), delivered  # every good row, once; nothing for the poison rows
    assert all("victim" not in str(m.message) for m in smtp_server.catcher.mails)
    after = await store.outbox_for(incident_id)
    assert [r.status for r in after] == ["failed"] * (len(poison) + 1) + ["sent"] * len(GOOD)
    for row in after[: len(poison)]:
        assert row.attempts == 1 and row.last_error is not None
        assert row.last_error.startswith("ugyldig modtageradresse"), row.last_error
        assert row.last_error.isprintable(), row.last_error  # control characters escaped, never raw
    assert after[len(poison)].last_error is not None
    assert after[len(poison)].last_error.startswith("mailen kan ikke dannes"), after[len(poison)].last_error  # type: ignore[union-attr]
    audit = [a for a in await store.audit_for(incident_id=incident_id) if a.action == "mail-fejlet"]
    assert len(audit) == len(poison) + 1 and all(a.detail.isprintable() for a in audit)
    # What the support desk's page lists: exactly these rows, newest first.
    failed = await store.failed_outbox()
    assert [r.id for r in failed] == [r.id for r in reversed(after[: len(poison) + 1])]

    # A later pass finds nothing left to do: the poison rows are not retried, the good ones not resent.
    assert await sender.send_due() is False
    assert len(smtp_server.catcher.mails) == len(GOOD)


async def test_poison_mail_rows_in_directory_mode_do_not_stop_the_files_behind(
    store: SqlNotifyStorage, tmp_path: Path
) -> None:
    rows = [NewOutboxRow("mail", a, "liste", "emne", "tekst") for a in POISON_ADDRESSES[:2]]
    rows += [NewOutboxRow("mail", a, "liste", "emne", "tekst") for a in GOOD]
    incident_id = await notice_with(store, rows)
    mail = MailSettings(kind="directory", directory=str(tmp_path / "mail"))
    sender = OutboxSender(store, NotifySettings(mail=mail), lambda: datetime.now(UTC))

    await drain(sender)

    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == len(GOOD)
    assert [r.status for r in await store.outbox_for(incident_id)] == ["failed"] * 2 + ["sent"] * len(GOOD)


async def test_poison_webhook_rows_in_front_do_not_stop_the_webhooks_behind(
    store: SqlNotifyStorage, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    bad_urls = ["http://[::1", "ftp://portal.example/hook", "not a url", "http://\x01portal.example/hook"]
    rows = [NewOutboxRow("webhook", u, "webhook", "emne", payload='{"n": 0}') for u in bad_urls]
    rows += [NewOutboxRow("webhook", receiver.url, "webhook", "emne", payload=f'{{"n": {n}}}') for n in (1, 2, 3)]
    incident_id = await notice_with(store, rows)
    mail = MailSettings(kind="smtp", host="127.0.0.1", port=smtp_server.port, timeout_seconds=3)
    settings = NotifySettings(mail=mail, webhooks=(Webhook(url=receiver.url),))
    sender = OutboxSender(store, settings, lambda: datetime.now(UTC))
    try:
        await drain(sender)
    finally:
        if sender._session is not None:
            await sender._session.close()

    assert sorted(r.body for r in receiver.received) == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']
    after = await store.outbox_for(incident_id)
    assert [r.status for r in after] == ["failed"] * len(bad_urls) + ["sent"] * 3
    for row in after[: len(bad_urls)]:
        assert row.last_error is not None and row.last_error.startswith("webhooket kan ikke sendes"), row.last_error
        assert row.last_error.isprintable()
    audit = [a for a in await store.audit_for(incident_id=incident_id) if a.action == "webhook-fejlet"]
    assert len(audit) == len(bad_urls)
