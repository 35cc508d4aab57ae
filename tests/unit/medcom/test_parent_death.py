"""A worker that calls die_with_parent ends soon after its parent is killed with SIGKILL, by the kernel's
signal (Linux) and by the getppid watch alone (everywhere else)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from edigate.medcom.parent_death import EXIT_ORPHANED
from tests.harness.processes import Proc, stat
from tests.harness.service import REPO
from tests.harness.wait import wait_until

GRANDCHILD = textwrap.dedent(
    """
    import os, signal, sys
    from edigate.medcom.parent_death import die_with_parent
    die_with_parent(os.getppid(), kernel=sys.argv[1] == "kernel", interval=0.2)
    print(os.getpid(), flush=True)
    signal.pause()
    """
)
PARENT = textwrap.dedent(
    """
    import signal, subprocess, sys
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    signal.pause()
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("guard", ["kernel", "watch"])
def test_the_worker_ends_when_its_parent_is_killed(guard: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, GRANDCHILD, guard], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker_pid = int(parent.stdout.readline())  # printed once die_with_parent has returned
    now = stat(worker_pid)
    assert now is not None
    worker = Proc(worker_pid, now[1], "")
    try:
        parent.kill()
        parent.wait()
        wait_until(lambda: not worker.running(), timeout=5, explain=lambda: f"{guard}: the worker outlived its parent")
    finally:
        if worker.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker_pid, signal.SIGKILL)
        parent.stdout.close()


def test_a_worker_whose_parent_is_already_gone_ends_at_once() -> None:
    code = "from edigate.medcom.parent_death import die_with_parent; die_with_parent(-1); print('still here')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == EXIT_ORPHANED and "still here" not in done.stdout
