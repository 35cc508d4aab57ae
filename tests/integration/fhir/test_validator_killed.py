"""The validator JVM killed while FHIR messages flow: nothing accepted is lost, FHIR answers 503 (with a
transient-error Acknowledgement) until edigate's supervisor has it back, then 202 again.

This test has a validator of its own (the service starts and supervises it, as in production), because it
kills it; the session's shared validator is left alone.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edigate.fhir.supervisor import VALIDATOR_NICENESS
from tests.harness import config as cfg
from tests.harness.fhir import FAST_START_JAVA_OPTIONS
from tests.harness.http import Reply, request
from tests.harness.processes import MAX_NICENESS
from tests.harness.receiver import Receiver
from tests.harness.service import Fleet, Service, make_service
from tests.harness.wait import wait_until
from tests.integration.fhir.conftest import FAST_DELIVERY, TOKENS, post_as_a
from tests.unit.fhir.examples import CARE, GLN_A, GLN_B, dump, example, header, new_message

PACKAGES = Path(__file__).resolve().parents[3].parent / "shared" / "medcom" / "fhir-packages"
JAR = Path(__file__).resolve().parents[3] / "validator" / "target" / "edigate-fhir-validator.jar"


def validator_pids(service_pid: int) -> list[int]:
    """The validator JVMs the service started (its children running the jar)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == service_pid and b"edigate-fhir-validator" in cmdline:
            found.append(int(entry.name))
    return found


def scheduling(pid: int) -> tuple[str, int]:
    """(the kernel's autogroup, or "" without one; the niceness) of a process.

    The kernel prints nothing in /proc/<pid>/autogroup for a task whose scheduling group is not an autogroup
    (autogroup off, or a task in a cgroup of its own, as under a CI runner): then niceness alone decides."""
    nice = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    try:
        words = Path(f"/proc/{pid}/autogroup").read_text().split()
    except OSError:
        words = []
    return (words[0] if words else ""), nice


def assert_below_edigate(jvm: int, service_pid: int) -> None:
    """The JVM's CPU priority is below edigate's in effect: VALIDATOR_NICENESS more, and in edigate's own
    autogroup (a session of its own would be a scheduling group of its own, which the kernel gives an equal
    share beside edigate's whatever its niceness)."""
    (jvm_group, jvm_nice), (gw_group, gw_nice) = scheduling(jvm), scheduling(service_pid)
    assert jvm_nice == min(MAX_NICENESS, gw_nice + VALIDATOR_NICENESS), (jvm_nice, gw_nice)
    assert jvm_group == gw_group, f"the validator runs in autogroup {jvm_group}, edigate in {gw_group}"
    # SCHED_OTHER (the default [fhir] validator_scheduling "normal"), every thread of the JVM (GC, JIT, the
    # validation pool), not just the one of its pid; other policies: tests/integration/fhir/test_priority.py.
    policies = {tid: policy for tid in thread_ids(jvm) if (policy := thread_policy(tid)) is not None}
    assert policies and set(policies.values()) == {os.SCHED_OTHER}, policies


def thread_ids(pid: int) -> list[int]:
    return [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]


def thread_policy(tid: int) -> int | None:
    """A thread's scheduling policy, or None for one that ended meanwhile (the JIT's come and go)."""
    try:
        return os.sched_getscheduler(tid)
    except ProcessLookupError:
        return None


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Service, Receiver]]:
    if not PACKAGES.is_dir() or not JAR.is_file():
        pytest.skip(f"needs the FHIR packages ({PACKAGES}) and the built validator jar ({JAR})")
    rx_b = Receiver().start()
    text = "".join(
        [
            cfg.base(cfg.sqlite_url(tmp_path / "gw.db"), "test admin", TOKENS["admin"]),
            cfg.table("delivery", FAST_DELIVERY),
            cfg.table(
                "fhir",
                {"package_dir": str(PACKAGES), "timeout_seconds": 60, "java_options": list(FAST_START_JAVA_OPTIONS)},
            ),
            cfg.partner(GLN_A, "A", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKENS["a"]),
            cfg.partner(GLN_B, "B", "municipality", "Fyn", cfg.http_delivery(rx_b.url), token=TOKENS["b"]),
        ]
    )
    fleet = Fleet()
    try:
        service = fleet.start(make_service(text, tmp_path))
        yield service, rx_b
    finally:
        fleet.stop()
        rx_b.stop()


def post(service: Service, body: bytes) -> Reply:
    return post_as_a(service, body, timeout=90)


@pytest.mark.timeout(900)
def test_validator_killed_mid_load(supervised: tuple[Service, Receiver]) -> None:
    service, rx_b = supervised
    template = example(CARE)
    sent: set[str] = set()

    def ready() -> bool:
        doc = new_message(template)
        sent.add(doc["id"])
        return post(service, dump(doc)).status == 202

    wait_until(ready, timeout=400, explain=lambda: "the supervised validator never became ready")
    accepted: dict[str, int] = {}  # Bundle.id -> message id
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            doc = new_message(template)
            sent.add(doc["id"])
            try:
                reply = post(service, dump(doc))
            except OSError:  # the client stopped waiting (validation queued behind the restart)
                continue
            statuses.append(reply.status)
            if reply.status == 202:
                accepted[doc["id"]] = reply.body["id"]
            elif reply.status == 503:
                ack = json.loads(reply.raw)  # a transient-error Acknowledgement: send it again later
                assert header(ack)["response"]["code"] == "transient-error"
            time.sleep(0.05)

    sender = threading.Thread(target=load, daemon=True)
    sender.start()
    try:
        wait_until(lambda: len(accepted) >= 5, timeout=120, explain=lambda: f"only {len(accepted)} accepted")
        assert service.proc is not None
        (jvm,) = validator_pids(service.proc.pid)
        assert_below_edigate(jvm, service.proc.pid)
        os.kill(jvm, signal.SIGKILL)
        wait_until(lambda: 503 in statuses, timeout=120, explain=lambda: "no 503 after the validator died")
        n_at_503 = len(statuses)
        wait_until(
            lambda: 202 in statuses[n_at_503:],
            timeout=400,
            explain=lambda: "FHIR never got 202 again after the validator was restarted",
        )
    finally:
        stop.set()
        sender.join(120)
    assert set(statuses) <= {202, 503}, statuses  # never a 500, never a false answer
    for bundle_id, mid in accepted.items():  # nothing accepted is lost
        shown = request(f"{service.base_url}/api/v1/messages/{mid}", "GET", token=TOKENS["admin"])
        assert shown.status == 200 and shown.body["envelope_id"] == bundle_id

    def delivered_ids() -> list[str]:
        return [json.loads(b)["id"] for b in rx_b.bodies()]

    wait_until(  # every accepted message delivered
        lambda: set(accepted) <= set(delivered_ids()),
        timeout=120,
        explain=lambda: f"not delivered: {sorted(set(accepted) - set(delivered_ids()))}",
    )
    delivered = delivered_ids()
    assert len(delivered) == len(set(delivered))  # once
    # (a post whose answer the client stopped waiting for may have been committed too: sent, not lost)
    assert set(delivered) <= sent

    # edigate itself killed with SIGKILL (no clean-up runs): its READY, serving validator exits with it
    (restarted,) = validator_pids(service.proc.pid)
    assert_below_edigate(restarted, service.proc.pid)
    service.kill9()
    wait_until(
        lambda: not running(restarted),
        timeout=10,
        explain=lambda: f"the validator JVM {restarted} still runs 10 s after edigate was killed with SIGKILL",
    )


def running(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child waiting to be reaped holds nothing)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
