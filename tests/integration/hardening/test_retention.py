"""Retention and key rotation on the gateway's own store, on SQLite and on PostgreSQL.

Purge: only final-state bodies older than N days go, metadata and history stay, the count is printed by
`edigate purge`. Rotation: plain and old-key bodies are re-sealed with the active key.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from edigate.store.crypto import ACTIVE_ENV, KEYS_ENV, BodyKeyring, key_id_of, message_aad, rotate_bodies
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import GeneratedReceipt, IngestItem
from edigate.store.retention import PURGED_EVENT, purge_bodies, purge_periodically, read_watermark
from edigate.store.schema import messages
from edigate.tasks import cancel_and_wait
from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, envelope, positive_receipt

REPO = Path(__file__).resolve().parents[3]
START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@dataclass
class FakeNow:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def world(storage_url: str) -> AsyncIterator[tuple[MessageStore, FakeNow, Database]]:
    clock = FakeNow(START)
    db = Database.open(storage_url)
    store = MessageStore(db, clock)
    await store.start()
    yield store, clock, db
    await store.stop()
    await db.close()


async def body_of(db: Database, mid: int) -> bytes:
    async with db.engine.connect() as conn:
        return bytes((await conn.execute(sa.select(messages.c.body).where(messages.c.id == mid))).scalar_one())


async def build_history(store: MessageStore, clock: FakeNow) -> dict[str, int]:
    """One message in every life stage, all 40 days old except `recent_ack` (2 days)."""
    ids: dict[str, int] = {}
    acked = envelope("ENVACK", ("LACK",))
    ids["acknowledged"] = (await store.accept(IngestItem(acked, b"<acked/>"))).id  # type: ignore[assignment]
    await store.mark_delivered([ids["acknowledged"]], "test")
    ids["receipt"] = (await store.accept(IngestItem(positive_receipt("RACK", acked), b"<r/>"))).id  # type: ignore
    await store.mark_delivered([ids["receipt"]], "test")  # a receipt asks for no receipt: final when delivered

    ids["awaiting_receipt"] = (await store.accept(IngestItem(envelope("ENVWAIT", ("LWAIT",)), b"<w/>"))).id  # type: ignore
    await store.mark_delivered([ids["awaiting_receipt"]], "test")

    ids["failed"] = (await store.accept(IngestItem(envelope("ENVDEAD", ("LDEAD",)), b"<dead/>"))).id  # type: ignore
    await store.record_failure(ids["failed"], "HTTP 500", None, dead=True)

    gen = GeneratedReceipt(body=b"<neg/>", envelope_id="NEG1", letter_id="NEGL1", sender_ean=MUNICIPALITY)
    out = await store.accept(
        IngestItem(
            envelope("ENVBAD", ("LBAD",)),
            b"<bad/>",
            rejected=True,
            refuse_code="syntaksfejl",
            refuse_text="bad",
            receipt=gen,
        )
    )
    ids["rejected"], ids["queued_negative_receipt"] = out.id, out.queued_receipt_id  # type: ignore[assignment]

    ids["pending"] = (await store.accept(IngestItem(envelope("ENVPEND", ("LPEND",)), b"<p/>"))).id  # type: ignore

    clock.now = START + timedelta(days=38)
    recent = envelope("ENVNEW", ("LNEW",))
    ids["recent_ack"] = (await store.accept(IngestItem(recent, b"<new/>"))).id  # type: ignore[assignment]
    await store.mark_delivered([ids["recent_ack"]], "test")
    rid = (await store.accept(IngestItem(positive_receipt("RNEW", recent), b"<r2/>"))).id
    await store.mark_delivered([rid], "test")  # type: ignore[list-item]
    clock.now = START + timedelta(days=40)
    return ids


async def test_purge_only_final_bodies_past_retention_and_keep_metadata(world) -> None:
    store, clock, db = world
    ids = await build_history(store, clock)
    before = {k: await store.get(v) for k, v in ids.items()}
    assert before["acknowledged"]["state"] == "acknowledged"  # type: ignore[index]
    assert before["failed"]["state"] == "failed"  # type: ignore[index]

    dry = await purge_bodies(db, clock.now, 30, dry_run=True)
    assert dry.purged == 4 and dry.dry_run
    assert await body_of(db, ids["acknowledged"]) == b"<acked/>"  # a dry run changes nothing

    result = await purge_bodies(db, clock.now, 30)
    assert result.purged == 4
    purged = {k for k, v in ids.items() if await body_of(db, v) == b""}
    assert purged == {"acknowledged", "receipt", "failed", "rejected"}
    for name in purged:
        shown = await store.get(ids[name])
        assert shown is not None and shown["state"] == before[name]["state"]  # type: ignore[index]
        assert shown["body_size"] > 0 and shown["envelope_id"] == before[name]["envelope_id"]  # type: ignore[index]
        assert shown["letters"] == before[name]["letters"]  # type: ignore[index]
        assert shown["history"][-1]["event"] == PURGED_EVENT
        assert shown["history"][-1]["detail"] == "retention: 30 days"
    assert await body_of(db, ids["pending"]) == b"<p/>"
    assert await body_of(db, ids["queued_negative_receipt"]) == b"<neg/>"
    assert await body_of(db, ids["awaiting_receipt"]) == b"<w/>"
    assert await body_of(db, ids["recent_ack"]) == b"<new/>"

    assert (await purge_bodies(db, clock.now, 30)).purged == 0  # idempotent
    assert (await purge_bodies(db, clock.now, 1)).purged == 2  # the recent one and its receipt


async def test_a_pass_reads_on_from_its_watermark_and_misses_nothing_that_ends_later(world) -> None:
    """A pass reads from where the last one stopped (issue 14: no partial index on the body, so a purge can be
    a HOT update on PostgreSQL). What a pass went past unpurged, because it was still waiting for a receipt
    or queued, is purged once it has ended and its retention has run out: ending it moved its last change."""
    store, clock, db = world
    ids = await build_history(store, clock)
    assert (await purge_bodies(db, clock.now, 30)).purged == 4
    assert await read_watermark(db) == (clock.now - timedelta(days=30), 0)
    assert (await purge_bodies(db, clock.now, 30, dry_run=True)).purged == 0

    clock.now = START + timedelta(days=41)  # the receipt comes late; the queued message goes dead
    receipt = (await store.accept(IngestItem(positive_receipt("RWAIT", envelope("ENVWAIT", ("LWAIT",))), b"<rw/>"))).id
    await store.mark_delivered([receipt], "test")  # type: ignore[list-item]
    await store.record_failure(ids["pending"], "HTTP 500", None, dead=True)
    assert (await store.get(ids["awaiting_receipt"]))["state"] == "acknowledged"  # type: ignore[index]

    clock.now = START + timedelta(days=70)  # 29 days after: not yet
    assert (await purge_bodies(db, clock.now, 30)).purged == 2  # only the recent pair of build_history
    assert await body_of(db, ids["awaiting_receipt"]) == b"<w/>"
    clock.now = START + timedelta(days=72)
    assert (await purge_bodies(db, clock.now, 30)).purged == 3
    assert await body_of(db, ids["awaiting_receipt"]) == b""
    assert await body_of(db, ids["pending"]) == b""
    assert await body_of(db, receipt) == b""  # type: ignore[arg-type]


def test_body_days_from_config() -> None:
    from edigate.settings import ConfigError, parse_settings

    assert parse_settings({}).retention.body_days == 30
    assert parse_settings({"retention": {"body_days": 7}}).retention.body_days == 7
    with pytest.raises(ConfigError, match=r"retention\.body_days"):
        parse_settings({"retention": {"body_days": 0}})
    with pytest.raises(ConfigError, match=r"retention\.days: unknown key"):
        parse_settings({"retention": {"days": 3}})


def config(storage_url: str, tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "purge.toml"
    path.write_text(f'[storage]\nurl = "{storage_url}"\n{extra}', encoding="utf-8")
    return path


def purge_cli(cfg: Path, clock_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDIGATE_CLOCK_FILE": str(clock_file)}
    return subprocess.run(
        [sys.executable, "-m", "edigate", "purge", "--config", str(cfg), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_purge_command_prints_the_count(world, storage_url: str, tmp_path: Path) -> None:
    store, clock, db = world
    ids = await build_history(store, clock)
    clock_file = tmp_path / "now.txt"
    clock_file.write_text(clock.now.isoformat())
    cfg = config(storage_url, tmp_path)

    dry = purge_cli(cfg, clock_file, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would purge 4 message bodies"), dry.stdout
    assert "(30 days)" in dry.stdout
    assert await body_of(db, ids["failed"]) == b"<dead/>"

    real = purge_cli(cfg, clock_file, "--days", "30")
    assert real.returncode == 0, real.stderr
    assert real.stdout.startswith("purged 4 message bodies"), real.stdout
    assert await body_of(db, ids["failed"]) == b""
    assert await body_of(db, ids["pending"]) == b"<p/>"

    bad = purge_cli(cfg, clock_file, "--days", "0")
    assert bad.returncode == 2 and "at least 1" in bad.stderr


async def test_purge_command_reads_retention_body_days(world, storage_url: str, tmp_path: Path) -> None:

    store, clock, _db = world
    await build_history(store, clock)
    clock_file = tmp_path / "now.txt"
    clock_file.write_text(clock.now.isoformat())
    out = purge_cli(config(storage_url, tmp_path, "[retention]\nbody_days = 1\n"), clock_file)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("purged 6 message bodies") and "(1 days)" in out.stdout, out.stdout


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


async def test_rotate_seals_plain_and_old_key_bodies(world) -> None:
    store, clock, db = world
    ids = await build_history(store, clock)
    await purge_bodies(db, clock.now, 30)  # purged bodies stay empty through rotation
    k1, k2 = key(), key()
    ring1 = BodyKeyring.from_environment({KEYS_ENV: f"k1:{k1}"})
    assert ring1 is not None
    first = await rotate_bodies(db, ring1, batch=3)
    assert (first.sealed_plain, first.resealed) == (5, 0)  # 9 rows, 4 purged
    ring2 = BodyKeyring.from_environment({KEYS_ENV: f"k1:{k1},k2:{k2}", ACTIVE_ENV: "k2"})
    assert ring2 is not None
    second = await rotate_bodies(db, ring2)
    assert (second.sealed_plain, second.resealed) == (0, 5)
    assert (await rotate_bodies(db, ring2)).resealed == 0
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(sa.select(messages.c.id, messages.c.sender_ean, messages.c.envelope_id, messages.c.body))
        ).all()
    by_id = {r.id: r for r in rows}
    r = by_id[ids["pending"]]
    assert key_id_of(bytes(r.body)) == "k2"
    only_k2 = BodyKeyring.from_environment({KEYS_ENV: f"k2:{k2}"})
    assert only_k2 is not None
    assert only_k2.open(bytes(r.body), message_aad(r.sender_ean, r.envelope_id)) == b"<p/>"
    assert bytes(by_id[ids["failed"]].body) == b""
    assert {key_id_of(bytes(x.body)) for x in rows if x.body} == {"k2"}
    assert HOSPITAL in {x.sender_ean for x in rows}


async def test_bodykeys_command_new_and_rotate(
    world, storage_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from edigate.commands import bodykeys

    store, clock, db = world
    ids = await build_history(store, clock)
    parser = argparse.ArgumentParser(prog="edigate")
    bodykeys.register(parser.add_subparsers())

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return int(args.func(args))

    assert run("bodykeys", "new", "2027a") == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("2027a:") and len(base64.b64decode(line.split(":", 1)[1])) == 32
    assert run("bodykeys", "new", "bad id!") == 2

    cfg = config(storage_url, tmp_path)
    monkeypatch.delenv(KEYS_ENV, raising=False)
    assert run("bodykeys", "rotate", "--config", str(cfg)) == 2  # no keys: says so
    assert "EDIGATE_BODY_KEYS is not set" in capsys.readouterr().err
    monkeypatch.setenv(KEYS_ENV, line)
    assert await asyncio.to_thread(run, "bodykeys", "rotate", "--config", str(cfg)) == 0
    assert "sealed 9 stored in clear, with key '2027a'" in capsys.readouterr().out
    assert key_id_of(await body_of(db, ids["pending"])) == "2027a"


async def test_a_purged_body_is_never_requeued_or_resent(world) -> None:
    store, clock, db = world
    ids = await build_history(store, clock)
    await purge_bodies(db, clock.now, 30)
    assert not await store.retry(ids["failed"])  # nothing left to deliver
    assert all(q.body for q in await store.next_messages(MUNICIPALITY, 10))
    again = await store.accept(IngestItem(envelope("ENVACK", ("LACK",)), b"<acked/>"))  # a late resend
    assert again.kind == "duplicate" and not again.receipt_resent  # its receipt body is gone: not re-sent
    assert all(q.body for q in await store.next_messages(HOSPITAL, 10))


async def test_the_service_answers_before_a_purge_backlog_is_done(world) -> None:
    """The warm start waits for retention's first pass; with a backlog that pass would be the whole purge
    (minutes on a large store). Its signal comes after a read-only candidate read, before any body goes."""
    store, clock, db = world
    await build_history(store, clock)
    first_pass = asyncio.Event()
    purged_before_signal: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and not first_pass.is_set():
            purged_before_signal.append(statement.split("\n")[0][:60])

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    task = asyncio.create_task(purge_periodically(db, clock, 30, 60, first_pass=first_pass))
    try:
        await asyncio.wait_for(first_pass.wait(), 10)
        for _ in range(200):  # and the pass goes on after the signal: the backlog is purged
            if (await purge_bodies(db, clock.now, 30, dry_run=True)).purged == 0:
                break
            await asyncio.sleep(0.05)
        assert (await purge_bodies(db, clock.now, 30, dry_run=True)).purged == 0
    finally:
        await cancel_and_wait(task)
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert purged_before_signal == []


async def _pages(db: Database) -> int:
    """The database's size in pages (the file's, once the WAL is checkpointed)."""
    async with db.engine.connect() as conn:
        return int((await conn.exec_driver_sql("PRAGMA page_count")).scalar_one())


async def test_purged_bodies_give_their_pages_back_on_sqlite(tmp_path: Path) -> None:
    """Retention's release_space returns the freed pages to the file system (auto_vacuum=INCREMENTAL): the
    pragma frees one page per step and yields no row, which once made it fail (or free one page per round)."""
    path = tmp_path / "big.db"
    clock = FakeNow(START)
    db = Database.open(f"sqlite:///{path}")
    store = MessageStore(db, clock)
    await store.start()
    try:
        big = os.urandom(48_000)
        for n in range(40):
            env = envelope(f"ENVBIG{n}", (f"LBIG{n}",), ack="minuspositivkvitt")
            mid = (await store.accept(IngestItem(env, big))).id
            await store.mark_delivered([mid], "test")  # type: ignore[list-item]
        clock.now = START + timedelta(days=40)
        pages_before = await _pages(db)
        result = await purge_bodies(db, clock.now, 30, pause=0)
        assert result.purged == 40
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar() == 0
            page_size = int((await conn.exec_driver_sql("PRAGMA page_size")).scalar_one())
        assert (pages_before - await _pages(db)) * page_size > 40 * 40_000  # the bodies' pages left the file
    finally:
        await store.stop()
        await db.close()
