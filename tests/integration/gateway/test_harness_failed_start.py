"""The test harness's own promise: a service that does not become healthy in time is stopped, not left
running (browser tests that start a service outside a try block leaked one per timed-out start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import config as cfg
from tests.harness.processes import running
from tests.harness.service import make_service


def test_a_start_that_times_out_leaves_no_service_behind(tmp_path: Path) -> None:
    service = make_service(cfg.base(cfg.sqlite_url(tmp_path / "edigate.db"), "admin", "tok-admin"), tmp_path)
    try:
        with pytest.raises(TimeoutError):
            service.start(timeout=0.01)  # still importing: it cannot answer /healthz this soon
        assert service.proc is not None
        assert not running(service.proc.pid), "the service that did not become healthy still runs"
    finally:
        service.stop()  # this test leaves none behind either when it fails
