"""A worker process that ends when the process that started it ends, however that one ends.

A `kill -9` of `edigate serve` runs none of its clean-up, and a multiprocessing worker waiting on its call
queue never sees end of file (it holds the queue's write end itself), so it lived on, an orphan, and with it
multiprocessing's resource tracker (whose pipe the worker keeps open): two processes per crash.

Two guards, called once at the worker's start:
- Linux: `prctl(PR_SET_PDEATHSIG, SIGTERM)`, the kernel's signal the moment the parent dies. The kernel's
  "parent" is the *thread* that forked: ProcessPoolExecutor (spawn, no max_tasks_per_child) starts its
  worker in the thread that calls `submit`, here the event loop's thread, which lives as long as the pool.
  Should that thread end first, the worker ends too and the pool starts a new one on its next use.
- everywhere: a daemon thread that compares `os.getppid()` with the parent every second (an orphan is
  adopted by init or a subreaper, so its parent id changes).

`edigate serve` started by `edigate demo` uses the same guards with `graceful=True`: the watch then sends
SIGTERM to its own process instead of exiting at once, so the service stops as on any SIGTERM (in-flight
requests finish, the port is released). It stays here, in medcom, because the explain pool needs it and
medcom imports nothing else of the project; serve may import medcom.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_INTERVAL_SECONDS = 1.0
EXIT_ORPHANED = 75  # the exit status of a worker whose parent is gone (EX_TEMPFAIL: nothing was lost)


def die_with_parent(
    parent_pid: int, *, kernel: bool = True, interval: float = WATCH_INTERVAL_SECONDS, graceful: bool = False
) -> None:
    """End this process soon after `parent_pid` (the process that started it) ends. `kernel=False` leaves
    out PR_SET_PDEATHSIG (for the watch's own test); `graceful=True` ends it by SIGTERM to itself (its
    handler stops it in order) rather than by an immediate exit."""
    if kernel:
        ask_kernel_for_sigterm()
    if os.getppid() != parent_pid:  # it died before the request above: no signal will come
        _orphaned(graceful)
    watch = threading.Thread(
        target=_watch, args=(parent_pid, interval, graceful), name="parent-death-watch", daemon=True
    )
    watch.start()


def ask_kernel_for_sigterm() -> bool:
    """PR_SET_PDEATHSIG on Linux; False where the kernel has no such request (the watch still runs)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, interval: float, graceful: bool = False) -> None:
    while os.getppid() == parent_pid:
        time.sleep(interval)
    _orphaned(graceful)


def _orphaned(graceful: bool) -> None:
    if graceful:
        os.kill(os.getpid(), signal.SIGTERM)  # as the kernel's PR_SET_PDEATHSIG would: a graceful stop
        return
    os._exit(EXIT_ORPHANED)  # no clean-up to run: the worker holds nothing its parent did not hand it
