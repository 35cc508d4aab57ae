"""The processes a process started, read from /proc (Linux): to check that none outlives the service."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

#: the kernel's highest niceness: `nice -n 10` under a process already at 15 gives 19, not 25
MAX_NICENESS = 19


@dataclass(frozen=True)
class Proc:
    """A process named by its id and start time, so that a reused id is not mistaken for it."""

    pid: int
    start_ticks: int
    cmdline: str

    def running(self) -> bool:
        """Still there and not a zombie waiting for a parent that may never reap it."""
        now = stat(self.pid)
        return now is not None and now[1] == self.start_ticks and now[0] != "Z"


def running(pid: int) -> bool:
    """`pid` exists and is not a zombie (a killed process waiting for its reaper runs no more)."""
    now = stat(pid)
    return now is not None and now[0] != "Z"


def stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of `pid`, None when there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[Proc]:
    """Every process below `pid`, children first."""
    found: list[Proc] = []
    for child in children(pid):
        now = stat(child)
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if now is not None:
            found.append(Proc(child, now[1], cmdline.strip()))
            found += descendants(child)
    return found
