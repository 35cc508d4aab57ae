"""The message store on SQLite: group commit, the MedCom duplicate matrix, receipt correlation, queues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from edigate.clock import system_clock
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import GeneratedReceipt, IngestItem
from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, envelope, positive_receipt


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MessageStore]:
    db = Database.open(f"sqlite:///{tmp_path / 's.db'}")
    st = MessageStore(db, system_clock)
    await st.start()
    yield st
    await st.stop()
    await db.close()


async def test_group_commit_batches_concurrent_accepts(store: MessageStore) -> None:
    outs = await asyncio.gather(*(store.accept(IngestItem(envelope(f"E{i}", (f"L{i}",)), b"<x/>")) for i in range(50)))
    assert [o.kind for o in outs] == ["accepted"] * 50
    assert len({o.id for o in outs}) == 50
    assert store.writer.batches < 50  # several callers shared a COMMIT


async def test_duplicate_matrix(store: MessageStore) -> None:
    first = await store.accept(IngestItem(envelope("E1", ("L1", "L2")), b"<x/>"))
    same = await store.accept(IngestItem(envelope("E1", ("L2", "L1")), b"<x/>"))
    assert (same.kind, same.id) == ("duplicate", first.id)
    resend = await store.accept(IngestItem(envelope("E2", ("L1", "L2")), b"<x/>"))
    assert (resend.kind, resend.id) == ("duplicate", first.id)
    reuse = await store.accept(IngestItem(envelope("E1", ("L9",)), b"<x/>"))
    assert reuse.kind == "conflict" and reuse.refuse_code == "ikke_specificeret"
    partial = await store.accept(IngestItem(envelope("E3", ("L1", "L3")), b"<x/>"))
    assert partial.kind == "conflict"
    other_sender = await store.accept(
        IngestItem(envelope("E1", ("L1", "L2"), sender=MUNICIPALITY, receiver=HOSPITAL), b"<x/>")
    )
    assert other_sender.kind == "accepted"  # envelope ids are per sender


async def test_receipt_correlation_and_resend(store: MessageStore) -> None:
    env = envelope("E1", ("L1",))
    first = await store.accept(IngestItem(env, b"<x/>"))
    await store.mark_delivered([first.id], "test")  # type: ignore[list-item]
    receipt = await store.accept(IngestItem(positive_receipt("R1", env), b"<r/>"))
    shown = await store.get(first.id)  # type: ignore[arg-type]
    assert shown is not None and shown["state"] == "acknowledged" and shown["receipt_id"] == receipt.id
    dup = await store.accept(IngestItem(env, b"<x/>"))
    assert dup.receipt_resent
    queued = await store.next_messages(HOSPITAL, 10)
    assert [q.body for q in queued] == [b"<r/>", b"<r/>"]  # the receipt and its re-sent copy


async def test_rejected_message_queues_its_negative_receipt(store: MessageStore) -> None:
    env = envelope("E1", ("L1",))
    gen = GeneratedReceipt(body=b"<neg/>", envelope_id="N1", letter_id="NL1", sender_ean=MUNICIPALITY)
    out = await store.accept(
        IngestItem(env, b"<bad/>", rejected=True, refuse_code="syntaksfejl", refuse_text="bad", receipt=gen)
    )
    assert out.kind == "rejected" and out.queued_receipt_id is not None
    assert [q.body for q in await store.next_messages(HOSPITAL, 10)] == [b"<neg/>"]
    assert await store.next_messages(MUNICIPALITY, 10) == []  # the rejected one is never delivered
    fixed = await store.accept(IngestItem(envelope("E2", ("L1",)), b"<x/>"))
    assert fixed.kind == "accepted"  # a corrected resend of a rejected letter is new


async def test_ack_sweep_marks_overdue_then_alerts_once(store: MessageStore) -> None:
    out = await store.accept(IngestItem(envelope("E1"), b"<x/>"))
    await store.mark_delivered([out.id], "test")  # type: ignore[list-item]
    overdue, alerts = await store.sweep_missing_receipts(timedelta(0), timedelta(hours=1))
    assert overdue == [out.id] and alerts == []
    overdue, alerts = await store.sweep_missing_receipts(timedelta(0), timedelta(0))
    assert overdue == [] and [a.id for a in alerts] == [out.id]
    assert (await store.sweep_missing_receipts(timedelta(0), timedelta(0)))[1] == []


async def test_queue_lease_is_exclusive(store: MessageStore) -> None:
    await store.ensure_queues([MUNICIPALITY])
    assert await store.claim_queues("a", [MUNICIPALITY], 30) == [MUNICIPALITY]
    assert await store.claim_queues("b", [MUNICIPALITY], 30) == []
    assert await store.claim_queues("a", [MUNICIPALITY], 30) == [MUNICIPALITY]  # renewal
    await store.release_queues("a")
    assert await store.claim_queues("b", [MUNICIPALITY], 30) == [MUNICIPALITY]
    # startup recovery on SQLite: a dead process's lease is released at once
    assert await store.recover_queues() == 1
    assert await store.claim_queues("c", [MUNICIPALITY], 30) == [MUNICIPALITY]
