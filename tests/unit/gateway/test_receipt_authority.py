"""Only the original's receiver may acknowledge or refuse it (issue 10 item 2): forged receipts change nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from edigate.clock import system_clock
from edigate.medcom.model import Envelope, Party
from edigate.store.correlation import receipt_may_change, receipt_sender_refusal
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import IngestItem
from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY, OTHER, envelope, positive_receipt


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MessageStore]:
    db = Database.open(f"sqlite:///{tmp_path / 's.db'}")
    st = MessageStore(db, system_clock)
    await st.start()
    yield st
    await st.stop()
    await db.close()


def sent_by(receipt: Envelope, sender: str, *, named_receiver: str | None = None) -> Envelope:
    """The receipt as `sender` would forge it; `named_receiver` is what its OriginalReceiver says."""
    letters = tuple(dataclasses.replace(lt, sender=Party(sender)) for lt in receipt.letters)
    rc = receipt.receipt
    assert rc is not None
    if named_receiver is not None:
        rc = dataclasses.replace(rc, original_receiver_ean=named_receiver)
    return dataclasses.replace(receipt, letters=letters, receipt=rc)


def test_the_rule() -> None:
    original = SimpleNamespace(receiver_ean=MUNICIPALITY)
    assert receipt_may_change(original, MUNICIPALITY)
    assert not receipt_may_change(original, OTHER)
    assert not receipt_may_change(original, None)
    assert not receipt_may_change(original, "")


def test_intake_check_names_only_the_callers_own_ean() -> None:
    original = envelope("E1")
    honest = positive_receipt("R1", original)
    assert receipt_sender_refusal(honest) is None
    assert receipt_sender_refusal(original) is None  # not a receipt
    forged = sent_by(honest, OTHER)  # OriginalReceiver still says MUNICIPALITY
    reason = receipt_sender_refusal(forged)
    assert reason is not None and OTHER in reason and MUNICIPALITY not in reason


@pytest.mark.parametrize("refused", [None, "ikke_specificeret"], ids=["XCTL03", "XCTL02"])
async def test_forged_receipt_changes_nothing(store: MessageStore, refused: str | None) -> None:
    env = envelope("E1", ("L1",))
    first = await store.accept(IngestItem(env, b"<x/>"))
    assert first.id is not None
    await store.mark_delivered([first.id], "test")
    before = await store.get(first.id)
    honest = positive_receipt("R1", env, refused=refused)

    # a third party naming the right receiver in OriginalReceiver, and one naming itself
    for forged in (sent_by(honest, OTHER), sent_by(honest, OTHER, named_receiver=OTHER)):
        out = await store.accept(IngestItem(forged, b"<forged/>"))
        assert out.kind == "conflict" and out.id is None, out
        assert "er ikke modtager" in (out.refuse_text or "")
    after = await store.get(first.id)
    assert after is not None and before is not None
    assert after["state"] == "delivered" and after["receipt_id"] is None
    assert after["letters"] == before["letters"]
    assert await store.next_messages(HOSPITAL, 10) == []  # the forged receipt is not delivered either

    real = await store.accept(IngestItem(honest, b"<r/>"))
    assert real.kind == "accepted"
    shown = await store.get(first.id)
    assert shown is not None and shown["state"] == ("refused" if refused else "acknowledged")
