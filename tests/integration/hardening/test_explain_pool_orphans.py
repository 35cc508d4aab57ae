"""The explain pool's worker (xmlschema reports of refused OIOXML messages) ends with the service.

A `kill -9` of `edigate serve` runs none of its clean-up; before the fix its multiprocessing worker, and
with it multiprocessing's resource tracker, lived on as orphans: two processes left behind per crash, and a
restarted service started two more beside them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import config as cfg
from tests.harness.http import request
from tests.harness.processes import Proc, descendants
from tests.harness.service import Service, make_service
from tests.harness.wait import wait_until
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN, xdis91_message

SENDER_TOKEN = "tok-orphans-hospital"
GONE_WITHIN_SECONDS = 5.0  # PR_SET_PDEATHSIG: at once; the getppid watch: within 1 s
XMLSCHEMA_WORDING = "value must be one of"  # the worker's report; lxml's own log says "[facet 'enumeration']"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    text = "".join(
        [
            cfg.base(cfg.sqlite_url(tmp_path / "gw.db"), "test admin", "tok-orphans-admin"),
            cfg.partner(HOSPITAL_EAN, "Testsygehus", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=SENDER_TOKEN),
            cfg.partner(MUNICIPALITY_EAN, "Testkommune", "municipality", "Fyn", cfg.MAILBOX_DELIVERY),
        ]
    )
    svc = make_service(text, tmp_path)
    try:
        yield svc.start()
    finally:
        svc.stop()


def explained_refusal(service: Service, n: int) -> None:
    """Post a refused message (the `n`th: ids are never reused) and see the worker's readable report in the
    answer: the worker is at work."""
    body = xdis91_message(envelope_id=f"ENVO{n:010d}", letter_id=f"LETO{n:010d}").replace(
        b"<StatusCode>nytbrev", b"<StatusCode>bogus"
    )
    reply = request(
        service.base_url + "/api/v1/messages",
        "POST",
        body,
        token=SENDER_TOKEN,
        headers={"Content-Type": "application/xml"},
        timeout=30,
    )
    assert reply.status == 422, reply
    assert any(XMLSCHEMA_WORDING in e["message"] for e in reply.body["errors"]), reply.body


def pool_processes(service: Service) -> list[Proc]:
    """The service's multiprocessing children: the explain worker and the resource tracker."""
    assert service.proc is not None
    return [p for p in descendants(service.proc.pid) if "multiprocessing" in p.cmdline]


def started_pool(service: Service) -> list[Proc]:
    def worker_seen() -> list[Proc]:
        found = pool_processes(service)
        return found if any("spawn_main" in p.cmdline for p in found) else []

    # the first report may come from lxml's log while the worker still imports xmlschema: post until it
    # answers itself (the wording is what a sender reads)
    posted = itertools.count()

    def explained() -> bool:
        try:
            explained_refusal(service, next(posted))
        except AssertionError:
            return False
        return True

    wait_until(explained, timeout=60, explain=lambda: f"no xmlschema report:\n{service.log_text()[-2000:]}")
    return wait_until(worker_seen, timeout=10, explain=lambda: f"no explain worker: {pool_processes(service)}")


def assert_all_gone(procs: list[Proc], how: str) -> None:
    wait_until(
        lambda: not [p for p in procs if p.running()],
        timeout=GONE_WITHIN_SECONDS,
        explain=lambda: f"left behind {GONE_WITHIN_SECONDS} s after {how}: {[p for p in procs if p.running()]}",
    )


def test_kill_9_of_the_service_leaves_no_pool_process(service: Service) -> None:
    procs = started_pool(service)
    try:
        killed = time.monotonic()
        service.kill9()
        assert_all_gone(procs, "kill -9 of the service")
        print(f"\n{len(procs)} pool processes gone {time.monotonic() - killed:.2f} s after kill -9 of the service")
    finally:
        for p in procs:  # never leave them to the next test, even when this one fails
            if p.running():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)


def test_a_stopped_service_leaves_no_pool_process(service: Service) -> None:
    procs = started_pool(service)
    assert service.stop() == 0
    assert_all_gone(procs, "SIGTERM (a clean stop)")
    assert "Traceback" not in service.log_text()


def test_a_stuck_worker_does_not_hold_up_a_clean_stop(service: Service) -> None:
    """SIGTERM ends the service at once even when its worker never answers (here: SIGSTOP; on a busy
    machine, a worker still importing xmlschema at the lowest priority held the exit 10-15 s)."""

    def worker() -> list[Proc]:
        return [p for p in pool_processes(service) if "spawn_main" in p.cmdline]

    (stuck,) = wait_until(worker, timeout=30, explain=lambda: f"no explain worker: {pool_processes(service)}")
    os.kill(stuck.pid, signal.SIGSTOP)
    try:
        stopping = time.monotonic()
        code = service.stop()  # the harness kills (code -9) what has not ended 15 s after SIGTERM
        took = time.monotonic() - stopping
        assert code == 0, f"edigate did not end by itself after SIGTERM (code {code}, {took:.1f} s)"
        assert_all_gone([stuck], "SIGTERM (a clean stop) with a stuck worker")
    finally:
        if stuck.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(stuck.pid, signal.SIGKILL)
