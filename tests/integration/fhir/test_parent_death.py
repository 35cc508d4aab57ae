"""An edigate killed with SIGKILL takes its supervised validator JVM with it (the parent-death watch).

SIGKILL runs none of edigate's clean-up, and the JVM is in a process group of its own, so nothing but the stdin
pipe ties the two: the JVM must notice its end of file and exit. Without that, each crash of edigate leaves
a JVM of 1-3 GB behind, and the restarted edigate starts another beside it.
The READY case (a validator that has served messages) is checked at the end of
test_validator_killed.py::test_validator_killed_mid_load, which has such a validator anyway.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from edigate.fhir.supervisor import VALIDATOR_NICENESS
from tests.harness import config as cfg
from tests.harness.processes import MAX_NICENESS
from tests.harness.service import Fleet, make_service
from tests.harness.wait import wait_until
from tests.integration.fhir.conftest import TOKENS
from tests.integration.fhir.test_validator_killed import JAR, PACKAGES, running, validator_pids
from tests.unit.fhir.examples import GLN_A, GLN_B

LOADING_RSS_MB = 150  # a JVM that has only started is ~40 MB; past this it is reading the packages


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@pytest.mark.timeout(180)
def test_sigkilled_edigate_leaves_no_validator_jvm(tmp_path: Path) -> None:
    if not PACKAGES.is_dir() or not JAR.is_file():
        pytest.skip(f"needs the FHIR packages ({PACKAGES}) and the built validator jar ({JAR})")
    text = "".join(
        [
            cfg.base(cfg.sqlite_url(tmp_path / "gw.db"), "test admin", TOKENS["admin"]),
            cfg.table("fhir", {"package_dir": str(PACKAGES)}),
            cfg.partner(GLN_A, "A", "hospital", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKENS["a"]),
            cfg.partner(GLN_B, "B", "municipality", "Fyn", cfg.MAILBOX_DELIVERY, token=TOKENS["b"]),
        ]
    )
    fleet = Fleet()
    jvms: list[int] = []
    try:
        service = fleet.start(make_service(text, tmp_path))
        assert service.proc is not None
        service_pid = service.proc.pid
        jvms = wait_until(
            lambda: validator_pids(service_pid),
            timeout=60,
            explain=lambda: "edigate did not start its validator JVM",
        )
        (jvm,) = jvms
        wait_until(  # up and working (loading the packages), not merely exec'ed
            lambda: rss_mb(jvm) > LOADING_RSS_MB,
            timeout=90,
            explain=lambda: f"the validator JVM {jvm} never got past start-up (RSS {rss_mb(jvm):.0f} MB)",
        )
        # (and it runs below edigate's CPU priority, so FHIR queues rather than slowing OIOXML intake)
        assert niceness(jvm) == min(MAX_NICENESS, VALIDATOR_NICENESS + niceness(service_pid))
        service.kill9()
        wait_until(
            lambda: not running(jvm),
            timeout=10,
            explain=lambda: f"the validator JVM {jvm} still runs 10 s after edigate was killed with SIGKILL",
        )
    finally:
        fleet.stop()
        for pid in jvms:  # never leave one behind, even when the test fails
            if running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
