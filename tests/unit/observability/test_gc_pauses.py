"""Garbage-collection pauses (edigate.gc_pauses, issue 14): a long collection is logged with its generation,
wall and CPU time; the start-up freeze moves what is alive out of the collector's reach, and can be
switched off for a measurement."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from edigate.gc_pauses import FREEZE_ENV, PauseWatch, freeze_startup_objects


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


async def test_a_collection_over_the_threshold_is_logged_by_the_loop() -> None:
    watch = PauseWatch(log_ms=0.0)  # every collection counts as long
    watch.install(asyncio.get_running_loop())
    try:
        with capture_logs() as logs:
            gc.collect()
            assert not [e for e in logs if e["event"] == "gc_pause"]  # never from inside the collector
            await asyncio.sleep(0)  # the loop's next round writes it
    finally:
        watch.uninstall()
    pauses = [e for e in logs if e["event"] == "gc_pause"]
    assert pauses and pauses[-1]["generation"] == 2
    assert pauses[-1]["ms"] >= 0 and pauses[-1]["cpu_ms"] >= 0 and "collected" in pauses[-1]
    assert watch.logged == len(pauses) and watch.longest_ms >= pauses[-1]["ms"] - 0.05  # logged rounded


async def test_a_short_collection_is_not_logged() -> None:
    watch = PauseWatch(log_ms=60_000.0)
    watch.install(asyncio.get_running_loop())
    try:
        with capture_logs() as logs:
            gc.collect()
            await asyncio.sleep(0)
    finally:
        watch.uninstall()
    assert not [e for e in logs if e["event"] == "gc_pause"]
    assert watch.callback_installed is False


def test_the_startup_objects_leave_the_collections(unfrozen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FREEZE_ENV, raising=False)
    frozen = freeze_startup_objects()
    assert frozen == gc.get_freeze_count() > 10_000  # this test process's modules alone
    assert len(gc.get_objects(generation=2)) < frozen  # a full collection walks far fewer now


def test_the_freeze_can_be_switched_off_for_a_measurement(unfrozen: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FREEZE_ENV, "0")
    assert freeze_startup_objects() == 0 and gc.get_freeze_count() == 0
