"""The readable error report of an invalid message, built beside the service, bounded in time and number.

An invalid message costs 50-100x a valid one when xmlschema explains it (pure Python: 50 ms for 55 KB).
Run on the event loop, or in a thread holding the GIL, four such messages at once stalled every other
request for up to 2 s. So the report is built in one worker process, at most `max_in_flight` at a time,
each with a CPU budget (a timer in the worker) and a wall-time limit for the sender; the worker runs at
the lowest CPU priority. An invalid message that finds the budget spent (the worker busy, the budget or
the deadline passed, the worker gone) is answered with lxml's own error log, which the validation
produced anyway; either report has at most MAX_ERRORS entries.
The verdict (valid or not, the RefuseCode) never depends on this: only the wording of the errors does.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from edigate.medcom import safe_xml
from edigate.medcom.errors import XmlRefused
from edigate.medcom.explain import Explainer
from edigate.medcom.model import ValidationError, ValidationResult
from edigate.medcom.parent_death import die_with_parent

log = structlog.get_logger()

DEFAULT_TIMEOUT_SECONDS = 1.0  # wall time a sender waits for the report at most (queue + work)
DEFAULT_CPU_BUDGET_SECONDS = 0.25  # CPU one report may use: 5-50 ms for usual 2-20 KB messages
DEFAULT_MAX_IN_FLIGHT = 2  # one explaining, one waiting; more invalid messages get lxml's log at once

_explainer: Explainer | None = None  # one per worker process, its loaded schemas kept between calls


class _OverBudget(Exception):
    """Raised in the worker by SIGPROF when a report has used its CPU budget."""


def _over_budget(signum: int, frame: object) -> None:
    raise _OverBudget


def explain_in_worker(
    schema_dir: str, schema_file: str, data: bytes, max_bytes: int, max_depth: int, cpu_budget: float
) -> tuple[ValidationError, ...]:
    """Runs in the worker process: parse again (a tree does not cross processes) and explain, cut off
    by a CPU timer (ITIMER_PROF) after `cpu_budget` seconds. Empty when there is nothing better than
    lxml's log."""
    global _explainer
    if _explainer is None:
        _explainer = Explainer()
    _explainer.load(Path(schema_dir) / schema_file)  # once per schema, outside the budget
    signal.signal(signal.SIGPROF, _over_budget)
    signal.setitimer(signal.ITIMER_PROF, cpu_budget)
    try:
        root = safe_xml.parse_root(data, max_bytes, max_depth, True)
        return _explainer.explain(root.getroottree(), Path(schema_dir) / schema_file, (), len(data))
    except (_OverBudget, XmlRefused):
        return ()
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def _worker_start(service_pid: int) -> None:
    """The worker ends with the service, however the service ends (a `kill -9` left it orphaned), and
    yields the CPU to it: on a busy machine a report runs out of budget (lxml's log) rather than slowing
    the valid messages down."""
    die_with_parent(service_pid)
    with contextlib.suppress(OSError):
        os.nice(19)


def _warm_up() -> bool:
    import xmlschema  # noqa: F401  (the import is most of a worker's start-up cost)

    return True


class ExplainPool:
    """One worker process for xmlschema reports; `explained` never waits longer than `timeout`."""

    def __init__(
        self,
        schema_dir: Path,
        *,
        max_bytes: int = safe_xml.DEFAULT_MAX_BYTES,
        max_depth: int = safe_xml.DEFAULT_MAX_DEPTH,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        cpu_budget: float = DEFAULT_CPU_BUDGET_SECONDS,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self.schema_dir = schema_dir
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.timeout = timeout
        self.cpu_budget = cpu_budget
        self.max_in_flight = max_in_flight
        self.fallbacks = 0  # reports answered with lxml's log because the budget was spent
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future[Any]] = []

    @property
    def in_flight(self) -> int:
        """Reports submitted and not yet finished in the worker (a timed-out one still counts)."""
        self._pending = [f for f in self._pending if not f.done()]
        return len(self._pending)

    def start(self) -> None:
        """Start the worker (spawn: no inherited sockets or database handles; lowest CPU priority; ends
        with the service) and let it import xmlschema in the background. Called on the event loop's thread,
        which then also starts any replacement worker (see edigate.medcom.parent_death)."""
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(os.getpid(),),
        )
        self._pending.append(self._pool.submit(_warm_up))

    def close(self) -> None:
        """Stop the worker at once. It only writes reports, nobody waits for one any more, and a polite
        shutdown would let the interpreter's exit wait for it: a worker still importing xmlschema at the
        lowest priority on a busy machine held `edigate serve` 10-15 s past SIGTERM, a stuck one for ever."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        workers = list((pool._processes or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            with contextlib.suppress(OSError):
                worker.kill()

    async def explained(self, data: bytes, result: ValidationResult) -> ValidationResult:
        """`result` with the readable report in place of lxml's log when the budget allows; else as is."""
        if result.explain_schema is None:
            return result
        errors = await self._explain(data, result.explain_schema)
        return replace(result, errors=errors or result.errors, explain_schema=None)

    async def _explain(self, data: bytes, schema_file: str) -> tuple[ValidationError, ...]:
        pool = self._pool
        if pool is None or self.in_flight >= self.max_in_flight:
            self.fallbacks += 1
            return ()
        try:
            future = pool.submit(
                explain_in_worker,
                str(self.schema_dir),
                schema_file,
                data,
                self.max_bytes,
                self.max_depth,
                self.cpu_budget,
            )
        except RuntimeError as exc:  # BrokenProcessPool (the worker died) or already shut down
            log.warning("explain_pool_unavailable", error=type(exc).__name__)
            self._restart()
            self.fallbacks += 1
            return ()
        self._pending.append(future)
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), self.timeout)
        except TimeoutError:
            self.fallbacks += 1
            return ()
        except Exception as exc:  # the worker died or the report failed: lxml's log stands
            log.warning("explain_failed", error=type(exc).__name__)
            if isinstance(exc, BrokenProcessPool):
                self._restart()
            self.fallbacks += 1
            return ()

    def _restart(self) -> None:
        old, self._pool = self._pool, None
        if old is not None:
            old.shutdown(wait=False, cancel_futures=True)
        self._pending = []
        self.start()
