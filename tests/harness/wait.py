"""Polling until the service under test has done something."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, explain: Callable[[], str]) -> T:
    """The first truthy value of `predicate` (polled every 0.1 s); AssertionError(explain()) after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(explain())
