"""The commands that start the validator JVM below edigate's CPU priority: a real child started through them
has the scheduling policy and the niceness asked for (chrt must not undo nice, nor nice undo chrt)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from edigate.fhir.supervisor import priority_prefix
from tests.harness.processes import MAX_NICENESS
from tests.harness.wait import wait_until

POLICIES = {"batch": os.SCHED_BATCH, "idle": os.SCHED_IDLE, "normal": os.SCHED_OTHER}


@pytest.fixture
def start_child() -> Iterator[list[subprocess.Popen[bytes]]]:
    children: list[subprocess.Popen[bytes]] = []
    yield children
    for child in children:
        child.kill()
        child.wait()


def started_as(children: list[subprocess.Popen[bytes]], niceness: int, scheduling: str) -> int:
    """The pid of `sleep` started through the prefix, once it has exec'd (its policy is final then)."""
    child = subprocess.Popen([*priority_prefix(niceness, scheduling), "sleep", "30"], stdin=subprocess.DEVNULL)
    children.append(child)

    def comm() -> str:
        with open(f"/proc/{child.pid}/comm", encoding="ascii") as fh:
            return fh.read().strip()

    wait_until(lambda: comm() == "sleep", 30, lambda: f"the child is still {comm()!r}, not sleep")
    return child.pid


def niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[16])


@pytest.mark.parametrize("scheduling", ["batch", "idle", "normal"])
def test_the_child_has_the_policy_and_the_niceness(start_child: list[subprocess.Popen[bytes]], scheduling: str) -> None:
    if shutil.which("chrt") is None or shutil.which("nice") is None:
        pytest.skip("needs util-linux chrt and coreutils nice (without them the JVM runs at edigate's priority)")
    pid = started_as(start_child, 10, scheduling)
    assert os.sched_getscheduler(pid) == POLICIES[scheduling]
    assert niceness(pid) == min(MAX_NICENESS, os.nice(0) + 10)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="scheduling must be one of"):
        priority_prefix(10, "fifo")
