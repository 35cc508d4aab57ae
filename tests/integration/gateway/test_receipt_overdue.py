"""pluspositivkvitt without a receipt: ack_overdue 30 min after delivery, an alert event after 90 min.

The service reads "now" from EDIGATE_CLOCK_FILE, so the test moves time forward without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness.receiver import Receiver
from tests.harness.service import Service, make_service
from tests.harness.wait import wait_until
from tests.integration.gateway.conftest import TOKENS, call, config_text
from tests.unit.medcom.samples import xdis91_message

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    return wait_until(predicate, timeout, lambda: "condition not reached")


@dataclass
class World:
    svc: Service
    clock: Path
    municipality: Receiver

    def set_time(self, after: timedelta) -> None:
        # atomically: the service reads the file on every clock call, and an empty read between
        # write_text's truncate and write is the system clock (weeks after T0: everything overdue)
        tmp = self.clock.with_suffix(".tmp")
        tmp.write_text((T0 + after).isoformat())
        tmp.replace(self.clock)

    def run_clock_until(self, start: timedelta, predicate: Any, timeout: float = 20.0) -> timedelta:
        """Let the service clock run from `start` (1 s per 0.2 s) until `predicate` holds; the time it held.

        A failed attempt's retry is due at the file clock's "now" plus the backoff. If that failure is
        recorded just after one fixed jump, the retry stays due after the frozen clock forever."""
        deadline = time.monotonic() + timeout
        after = start
        while time.monotonic() < deadline:
            self.set_time(after)
            if predicate():
                return after
            time.sleep(0.2)
            after += timedelta(seconds=1)
        raise AssertionError(f"condition not reached by T0 + {after}")

    def post(self, xml: bytes) -> int:
        return int(call(self.svc.base_url, "POST", "/api/v1/messages", xml, token=TOKENS["hospital"]).body["id"])

    def show(self, mid: int) -> dict[str, Any]:
        return call(self.svc.base_url, "GET", f"/api/v1/messages/{mid}", token=TOKENS["admin"]).body  # type: ignore[no-any-return]


@contextmanager
def world(tmp_path: Path, storage_url: str, *, municipality_mode: str = "ok") -> Iterator[World]:
    """The real service on a clock file at T0, a hospital and a municipality receiver."""
    clock = tmp_path / "clock"
    clock.write_text(T0.isoformat())
    hospital, municipality = Receiver().start(), Receiver().start()
    municipality.mode = municipality_mode
    text = config_text(
        storage_url,
        hospital.url,
        municipality.url,
        tmp_path / "out",
        ack_sweep_interval_seconds=0.2,
        worker_lease_seconds=100000.0,
    )
    svc = make_service(text, tmp_path, env={"EDIGATE_CLOCK_FILE": str(clock)})
    svc.start()
    try:
        yield World(svc, clock, municipality)
    finally:
        svc.stop()
        hospital.stop()
        municipality.stop()


def test_missing_receipt_becomes_overdue_then_alerts(tmp_path: Path, storage_url: str) -> None:
    with world(tmp_path, storage_url) as w:
        wanted = w.post(xdis91_message(envelope_id="ENVOVR01"))
        unwanted = w.post(xdis91_message(envelope_id="ENVOVR02", letter_id="LETOVR02", ack_code="minuspositivkvitt"))
        w.municipality.wait_for(2)
        wait_for(lambda: w.show(wanted)["state"] == "delivered")

        w.set_time(timedelta(minutes=29))
        time.sleep(0.6)
        assert w.show(wanted)["state"] == "delivered"

        w.set_time(timedelta(minutes=31))
        wait_for(lambda: w.show(wanted)["state"] == "ack_overdue")
        assert w.show(unwanted)["state"] == "delivered"  # minuspositivkvitt expects no receipt

        w.set_time(timedelta(minutes=91))
        history = wait_for(lambda: [e for e in w.show(wanted)["history"] if e["event"] == "ack_alert"])
        assert history[0]["at"].startswith("2026-11-23T10:31")
        assert "ack_alert" in w.svc.log_text() or "message_ack_alert" in w.svc.log_text()


def test_overdue_is_counted_from_delivery_not_acceptance(tmp_path: Path, storage_url: str) -> None:
    """A message held 40 minutes by a receiver outage is not 'missing its receipt' one minute after delivery."""
    with world(tmp_path, storage_url, municipality_mode="fail") as w:
        mid = w.post(xdis91_message(envelope_id="ENVOVR11"))
        wait_for(lambda: w.municipality.attempts >= 1)
        w.set_time(timedelta(minutes=40))
        time.sleep(0.6)
        assert w.show(mid)["state"] == "accepted"  # still queued: the receiver is down

        w.municipality.mode = "ok"
        # the next retry (and any open circuit) is due by the service clock, which runs on from 42 min
        delivered = w.run_clock_until(timedelta(minutes=42), lambda: w.show(mid)["state"] == "delivered")
        assert len(w.municipality.received) == 1

        w.set_time(delivered + timedelta(minutes=1))  # 43 min after acceptance, 1 after delivery
        time.sleep(0.6)
        assert w.show(mid)["state"] == "delivered"

        w.set_time(delivered + timedelta(minutes=31))  # 31 min after delivery
        wait_for(lambda: w.show(mid)["state"] == "ack_overdue")
