"""Issue 10 item 14: a letter re-sent under a new envelope id gets the same answer whatever the timing.

One after another (two commits) or together (one group commit), in either order: the first is accepted, the
second is a duplicate of it (200 at the API). A rejected letter's corrected resend is new in both cases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edigate.clock import system_clock
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import IngestItem, IngestOutcome
from tests.unit.gateway.envelopes import envelope


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MessageStore]:
    db = Database.open(f"sqlite:///{tmp_path / 's.db'}")
    st = MessageStore(db, system_clock, group_commit_wait_ms=50)  # concurrent accepts share a commit
    await st.start()
    yield st
    await st.stop()
    await db.close()


def item(env_id: str, letters: tuple[str, ...], *, rejected: bool = False) -> IngestItem:
    if rejected:
        return IngestItem(envelope(env_id, letters), b"<x/>", rejected=True, refuse_code="syntaksfejl")
    return IngestItem(envelope(env_id, letters), b"<x/>")


async def together(store: MessageStore, *items: IngestItem) -> list[IngestOutcome]:
    before = store.writer.batches
    outs = await asyncio.gather(*(store.accept(i) for i in items))
    assert store.writer.batches == before + 1, "the posts did not share one group commit"
    return list(outs)


async def one_by_one(store: MessageStore, *items: IngestItem) -> list[IngestOutcome]:
    return [await store.accept(i) for i in items]


def shape(outs: list[IngestOutcome]) -> list[tuple[str, bool]]:
    """(kind, same id as the first) per outcome: what the API's status and id say."""
    return [(o.kind, o.id == outs[0].id) for o in outs]


@pytest.mark.parametrize("timing", [together, one_by_one], ids=["one-commit", "two-commits"])
@pytest.mark.parametrize("order", ["old-first", "new-first"])
async def test_resend_under_new_envelope_is_a_duplicate(store: MessageStore, timing, order: str) -> None:  # type: ignore[no-untyped-def]
    pair = [item("E1", ("L1", "L2")), item("E2", ("L2", "L1"))]
    if order == "new-first":
        pair.reverse()
    outs = await timing(store, *pair)
    assert shape(outs) == [("accepted", True), ("duplicate", True)], outs
    shown = await store.get(outs[0].id)  # type: ignore[arg-type]
    assert shown is not None and [e["event"] for e in shown["history"]][-1] == "duplicate"
    # a subset of the letters again, and the same envelope again: duplicates too
    more = await timing(store, item("E3", ("L1",)), item(pair[0].envelope.id, ("L1", "L2")))
    assert [(o.kind, o.id) for o in more] == [("duplicate", outs[0].id)] * 2


@pytest.mark.parametrize("timing", [together, one_by_one], ids=["one-commit", "two-commits"])
async def test_partial_overlap_is_a_conflict_and_a_corrected_resend_is_new(store: MessageStore, timing) -> None:  # type: ignore[no-untyped-def]
    outs = await timing(store, item("E1", ("L1",)), item("E2", ("L1", "L9")))
    assert [o.kind for o in outs] == ["accepted", "conflict"]
    outs = await timing(store, item("E5", ("L5",), rejected=True), item("E6", ("L5",)))
    assert [o.kind for o in outs] == ["rejected", "accepted"]
