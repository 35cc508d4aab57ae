"""Stopping the service's background tasks: one way, so every stop waits for the task to finish its cancel."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has unwound (its `finally` blocks ran), so a stop never leaves it behind.

    None is accepted: a component that never started has no task. The task's CancelledError is the expected
    end and is swallowed; any other exception it raises while unwinding propagates.
    """
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
