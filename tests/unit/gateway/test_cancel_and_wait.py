"""Stopping a background task: the stop returns only after the task has unwound, and a real error still shows."""

from __future__ import annotations

import asyncio

import pytest

from edigate.tasks import cancel_and_wait


async def test_returns_after_the_task_ran_its_cleanup() -> None:
    started = asyncio.Event()
    cleaned: list[str] = []

    async def loop() -> None:
        try:
            started.set()
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)  # cleanup that itself awaits: the stop must wait for it
            cleaned.append("closed")

    task = asyncio.get_running_loop().create_task(loop())
    await started.wait()
    await cancel_and_wait(task)
    assert cleaned == ["closed"]
    assert task.cancelled()


async def test_a_component_that_never_started_stops_quietly() -> None:
    await cancel_and_wait(None)


async def test_an_error_while_unwinding_is_not_swallowed() -> None:
    started = asyncio.Event()

    async def loop() -> None:
        try:
            started.set()
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("connection close failed")

    task = asyncio.get_running_loop().create_task(loop())
    await started.wait()
    with pytest.raises(RuntimeError, match="connection close failed"):
        await cancel_and_wait(task)
