"""Group commit: one writer task turns many concurrent accept() calls into one transaction.

Each caller puts its item on a queue and awaits its own future. The writer takes what is waiting
(up to `max_batch`, or whatever arrived within `max_wait`), runs one transaction and resolves every
future only after COMMIT returned — so a 202 is never sent for something not on disk. When the
transaction fails, every caller in that batch gets the exception (the web layer answers 503).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

from edigate.tasks import cancel_and_wait

T = TypeVar("T")
R = TypeVar("R")

log = structlog.get_logger()


class StorageUnavailable(RuntimeError):
    """The store could not commit; nothing from this batch is durable."""


class GroupCommitWriter(Generic[T, R]):
    """Batches concurrent submit() calls into one commit.

    Waiting items sit in a plain deque and one Event wakes the writer: measured in the running service,
    the former asyncio.Queue with `wait_for(queue.get(), …)` created a task and a timer per item while a
    batch filled. While a commit runs, new items simply pile up; they form the next batch, so under load
    the batch size follows the commit time without any extra waiting.
    """

    def __init__(
        self,
        commit: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 256,
        max_wait: float = 0.002,
    ) -> None:
        self._commit = commit
        self._max_batch = max_batch
        self._max_wait = max_wait
        self._pending: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()  # set when nothing is pending or being committed
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="group-commit-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        while self._pending or not self._idle.is_set():
            if self._task.done():
                break
            await self._idle.wait()
            await asyncio.sleep(0)
        await cancel_and_wait(self._task)
        self._task = None

    async def submit(self, item: T) -> R:
        if self._task is None or self._task.done():
            raise StorageUnavailable("the store writer is not running")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, fut))
        self._idle.clear()
        self._wakeup.set()
        return await fut

    async def _run(self) -> None:
        pending = self._pending
        while True:
            if not pending:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if len(pending) < self._max_batch and self._max_wait > 0:
                # give concurrent senders a moment to join this batch (one timer per batch)
                await asyncio.sleep(self._max_wait)
            n = min(len(pending), self._max_batch)
            batch = [pending.popleft() for _ in range(n)]
            await self._flush(batch)

    async def _flush(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._commit([item for item, _ in batch])
        except Exception as exc:
            # only the exception type: SQL error text may quote parameters, i.e. message bodies with a CPR
            log.error(
                "store_commit_failed",
                batch=len(batch),
                error=type(exc).__name__,
                cause=type(getattr(exc, "orig", None) or exc).__name__,
            )
            err = StorageUnavailable(f"store commit failed: {type(exc).__name__}")
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
        else:
            self.batches += 1
            self.items += len(batch)
            for (_, fut), res in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(res)
