"""A second SIGTERM while the service is already stopping must not cut its stop short.

Seen in a CI run: `edigate serve` under `edigate demo` got two SIGTERMs when the demo was killed (the kernel's
parent-death signal and, a second later, its own parent watch). aiohttp raised its graceful exit again inside
the clean-up, which then ended half-way ("Event loop is closed", pending database closes destroyed, no
`edigate_stopped`). An operator who presses stop twice, or a supervisor that repeats its SIGTERM, meets the same.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from tests.harness import config as cfg
from tests.harness.service import make_service

SIGTERMS = 15
GAP_SECONDS = 0.03  # many signals spread over the stop, so some arrive while the clean-up runs


def test_repeated_sigterm_still_stops_in_order(tmp_path: Path) -> None:
    service = make_service(cfg.base(cfg.sqlite_url(tmp_path / "edigate.db"), "admin", "tok-admin"), tmp_path)
    service.start()
    assert service.proc is not None
    try:
        for _ in range(SIGTERMS):
            if service.proc.poll() is not None:
                break
            service.proc.send_signal(signal.SIGTERM)
            time.sleep(GAP_SECONDS)
        code = service.proc.wait(30)
    finally:
        if service.proc.poll() is None:
            service.proc.kill()
            service.proc.wait()
    log = service.log_text()
    assert code == 0, log[-3000:]
    assert "edigate_stopped" in log, log[-3000:]
    for broken in ("Event loop is closed", "Task was destroyed but it is pending", "Traceback"):
        assert broken not in log, log[-3000:]
