"""A background loop stops when it is cancelled, even when a wake-up arrives in the same loop pass.

Found in a full run: a test's service never shut down. Its outbox loop waited with
``asyncio.wait_for(wake.wait(), poll)``; on Python 3.11, when the wake-up (a poke after a change) completes
the inner wait in the same pass as ``stop()`` cancels the task, ``wait_for`` returns the result and the cancel
is lost, so the loop polled on forever and ``stop()`` waited for it forever. The loops now wait with
``asyncio.timeout``, which keeps the cancel. Poke, then cancel, reproduces the race every time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edigate.store.db import Database
from edigate.store.notify_store import SqlNotifyStorage
from notify.config import MailSettings, NotifySettings
from notify.outbox import OutboxSender

ROUNDS = 25


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlNotifyStorage]:
    db = Database.open(f"sqlite:///{tmp_path / 'loops.db'}")
    await db.migrate()
    try:
        yield SqlNotifyStorage(db)
    finally:
        await db.close()


async def idle(task: asyncio.Task[None], settle: Callable[[], Awaitable[None]]) -> None:
    """Until the loop sits in its wait (it has done its start-up and a pass with nothing to send)."""
    for _ in range(20):
        await settle()
    assert not task.done()


async def test_the_outbox_stops_when_a_poke_and_the_cancel_meet(store: SqlNotifyStorage, tmp_path: Path) -> None:
    mail = MailSettings(kind="directory", directory=str(tmp_path / "mail"))
    for _ in range(ROUNDS):
        sender = OutboxSender(store, NotifySettings(mail=mail), lambda: datetime.now(UTC))
        task = asyncio.create_task(sender.run())
        await idle(task, lambda: asyncio.sleep(0.005))
        sender.poke()  # a change wakes it ...
        task.cancel()  # ... in the same pass as the service stops
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)  # before the fix: TimeoutError, the loop polled on


class SwallowingSender(OutboxSender):
    """An outbox whose pass swallows a cancel, as a database driver below it can (seen in a full run)."""

    entered: asyncio.Event

    async def send_due(self) -> bool:
        self.entered.set()
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            return False  # the cancel is lost here, and the task stays "cancelling"
        return False


async def test_the_outbox_stops_when_a_cancel_was_swallowed_below_it(store: SqlNotifyStorage, tmp_path: Path) -> None:
    mail = MailSettings(kind="directory", directory=str(tmp_path / "mail"))
    sender = SwallowingSender(store, NotifySettings(mail=mail), lambda: datetime.now(UTC))
    sender.entered = asyncio.Event()
    task = asyncio.create_task(sender.run())
    await asyncio.wait_for(sender.entered.wait(), 5)
    task.cancel()  # lands inside the pass, which swallows it
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)  # before the guard: TimeoutError, the loop polled on
