"""The readable report of an invalid message is built in a worker process, bounded in time and number:
when the budget is spent the answer carries lxml's own error log, never nothing and never late."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edigate.medcom import Validator
from edigate.medcom.explain_pool import ExplainPool
from edigate.medcom.model import ValidationResult
from tests.harness.processes import running
from tests.unit.medcom import samples

XMLSCHEMA_WORDING = "value must be one of"  # xmlschema's report; lxml says "[facet 'enumeration']"


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def invalid_message(paragraphs: int = 6) -> bytes:
    return samples.xdis91_message(paragraphs=paragraphs, text="x").replace(b"<StatusCode>nytbrev", b"<StatusCode>bogus")


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator()


@pytest.fixture
def pool(validator: Validator) -> Iterator[ExplainPool]:
    p = ExplainPool(validator.schema_dir, timeout=20.0, cpu_budget=10.0)
    yield p
    p.close()


def test_validate_without_explain_is_cheap_and_says_what_to_explain(validator: Validator) -> None:
    data = invalid_message()
    result = validator.validate(data, explain=False)
    assert not result.valid and result.refuse_code == "syntaksfejl"
    assert result.explain_schema == "2006/07/01/EMessage.xsd"
    assert result.errors and "enumeration" in result.errors[0].message  # lxml's own log
    explained = validator.validate(data)
    assert explained.explain_schema is None and XMLSCHEMA_WORDING in explained.errors[0].message
    assert validator.validate(samples.xdis91_message(), explain=False).explain_schema is None


def test_the_worker_writes_the_readable_report(validator: Validator, pool: ExplainPool) -> None:
    data = invalid_message()

    async def run() -> None:
        pool.start()
        result = await pool.explained(data, validator.validate(data, explain=False))
        assert result.explain_schema is None
        assert XMLSCHEMA_WORDING in result.errors[0].message
        assert result.errors[0].path == "/Emessage/ClinicalEmail/Letter/StatusCode"

    asyncio.run(run())


def test_more_than_the_cap_at_once_get_lxml_log_at_once(validator: Validator, pool: ExplainPool) -> None:
    data = invalid_message(paragraphs=3000)  # about 0.2 s of xmlschema each

    async def run() -> None:
        pool.start()
        lxml_only = validator.validate(data, explain=False)
        started = time.perf_counter()

        async def timed() -> tuple[ValidationResult, float]:
            result = await pool.explained(data, lxml_only)
            return result, time.perf_counter() - started

        timed_results = await asyncio.gather(*(timed() for _ in range(8)))
        results = [r for r, _ in timed_results]
        assert all(r.explain_schema is None and r.errors for r in results)
        fallbacks = [(r, took) for r, took in timed_results if r.errors == lxml_only.errors]
        assert len(fallbacks) >= 8 - pool.max_in_flight, [r.errors[0].message for r in results]
        assert pool.fallbacks == len(fallbacks)
        # "at once": those over the cap never wait for the worker (which, at the lowest priority on a busy
        # machine, may take many seconds to start); the ones in flight are bounded by the pool's timeout
        slowest_fallback = max(took for _, took in fallbacks[: 8 - pool.max_in_flight])
        assert slowest_fallback < 2.0, f"a message over the cap waited {slowest_fallback:.2f} s"

    asyncio.run(run())


def test_past_the_deadline_the_answer_is_lxml_log(validator: Validator) -> None:
    data = invalid_message(paragraphs=3000)
    pool = ExplainPool(validator.schema_dir, timeout=0.05, cpu_budget=10.0)

    async def run() -> None:
        pool.start()
        lxml_only = validator.validate(data, explain=False)
        started = time.perf_counter()
        result = await pool.explained(data, lxml_only)
        assert time.perf_counter() - started < 1.0  # the deadline, plus a loaded machine's slack
        assert result.errors == lxml_only.errors and pool.fallbacks == 1

    try:
        asyncio.run(run())
    finally:
        pool.close()


def test_a_dead_worker_is_replaced(validator: Validator, pool: ExplainPool) -> None:
    data = invalid_message()

    async def run() -> None:
        pool.start()
        await pool.explained(data, validator.validate(data, explain=False))
        assert pool._pool is not None
        for pid in list(pool._pool._processes):  # the worker process, killed as an OOM killer would
            os.kill(pid, signal.SIGKILL)
        lxml_only = validator.validate(data, explain=False)
        first = await pool.explained(data, lxml_only)
        assert first.errors  # lxml's log (broken pool) or the report: never nothing
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            again = await pool.explained(data, lxml_only)
            if XMLSCHEMA_WORDING in again.errors[0].message:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no readable report after the worker died")

    asyncio.run(run())


def test_a_report_over_its_cpu_budget_is_cut_off(validator: Validator) -> None:
    """The worker's own timer stops xmlschema: a costly report frees the worker instead of running on."""
    data = invalid_message(paragraphs=6000)  # about 0.3-0.5 s of xmlschema
    pool = ExplainPool(validator.schema_dir, timeout=30.0, cpu_budget=0.02)

    async def run() -> None:
        pool.start()
        small = invalid_message()
        assert (
            XMLSCHEMA_WORDING
            in (await pool.explained(small, validator.validate(small, explain=False))).errors[0].message
        )
        lxml_only = validator.validate(data, explain=False)
        assert pool._pool is not None
        workers = list(pool._pool._processes)
        cpu_before = sum(_cpu_seconds(pid) for pid in workers)
        result = await pool.explained(data, lxml_only)
        worker_cpu = sum(_cpu_seconds(pid) for pid in workers) - cpu_before
        assert result.errors == lxml_only.errors
        # budget 20 ms of CPU, not the 0.3-0.5 s of the whole report: measured as the worker's CPU, which a
        # busy machine does not stretch as it does wall time (the worker runs at the lowest priority)
        assert worker_cpu < 0.2, f"the worker used {worker_cpu:.2f} s of CPU"
        assert pool.in_flight == 0

    try:
        asyncio.run(run())
    finally:
        pool.close()


def test_close_ends_even_a_stuck_worker(validator: Validator) -> None:
    """close() does not leave the worker for the interpreter's exit to wait on (a stuck one: for ever)."""
    pool = ExplainPool(validator.schema_dir)
    pool.start()
    assert pool._pool is not None
    deadline = time.monotonic() + 30
    while not pool._pool._processes and time.monotonic() < deadline:
        time.sleep(0.02)
    (worker,) = pool._pool._processes.values()
    assert worker.pid is not None
    pid = worker.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        pool.close()
        # asked of the kernel, not of `worker.exitcode`: the executor's own thread may reap the worker, and a
        # join racing it reads "no exit code yet" for a process that is already gone (seen once in a CI run)
        deadline = time.monotonic() + 5
        while running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not running(pid), "the stuck worker still runs 5 s after close()"
    finally:
        if running(pid):
            os.kill(pid, signal.SIGKILL)
