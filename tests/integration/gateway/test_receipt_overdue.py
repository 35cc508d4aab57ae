"""pluspositivkvitt without a receipt: ack_overdue 30 min after delivery, an alert event after 90 min.

The service reads "now" from EDIGATE_CLOCK_FILE, so the test moves time forward without waiting.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.harness.receiver import Receiver
from tests.harness.service import make_service
from tests.harness.wait import wait_until
from tests.integration.gateway.conftest import TOKENS, call, config_text
from tests.unit.medcom.samples import xdis91_message

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    return wait_until(predicate, timeout, lambda: "condition not reached")


def test_missing_receipt_becomes_overdue_then_alerts(tmp_path: Path, storage_url: str) -> None:
    clock = tmp_path / "clock"
    clock.write_text(T0.isoformat())
    hospital, municipality = Receiver().start(), Receiver().start()
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

        def show(mid: int) -> dict:
            return call(svc.base_url, "GET", f"/api/v1/messages/{mid}", token=TOKENS["admin"]).body  # type: ignore[no-any-return]

        wanted = call(
            svc.base_url,
            "POST",
            "/api/v1/messages",
            xdis91_message(envelope_id="ENVOVR01"),
            token=TOKENS["hospital"],
        ).body["id"]
        unwanted = call(
            svc.base_url,
            "POST",
            "/api/v1/messages",
            xdis91_message(envelope_id="ENVOVR02", letter_id="LETOVR02", ack_code="minuspositivkvitt"),
            token=TOKENS["hospital"],
        ).body["id"]
        municipality.wait_for(2)
        wait_for(lambda: show(wanted)["state"] == "delivered")

        clock.write_text((T0 + timedelta(minutes=29)).isoformat())
        time.sleep(0.6)
        assert show(wanted)["state"] == "delivered"

        clock.write_text((T0 + timedelta(minutes=31)).isoformat())
        wait_for(lambda: show(wanted)["state"] == "ack_overdue")
        assert show(unwanted)["state"] == "delivered"  # minuspositivkvitt expects no receipt

        clock.write_text((T0 + timedelta(minutes=91)).isoformat())
        history = wait_for(lambda: [e for e in show(wanted)["history"] if e["event"] == "ack_alert"])
        assert history[0]["at"].startswith("2026-11-23T10:31")
        assert "ack_alert" in svc.log_text() or "message_ack_alert" in svc.log_text()
    finally:
        svc.stop()
        hospital.stop()
        municipality.stop()


def test_overdue_is_counted_from_delivery_not_acceptance(tmp_path: Path, storage_url: str) -> None:
    """A message held 40 minutes by a receiver outage is not 'missing its receipt' one minute after delivery."""
    clock = tmp_path / "clock"
    clock.write_text(T0.isoformat())
    hospital, municipality = Receiver().start(), Receiver().start()
    municipality.mode = "fail"
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

        def show(mid: int) -> dict:
            return call(svc.base_url, "GET", f"/api/v1/messages/{mid}", token=TOKENS["admin"]).body  # type: ignore[no-any-return]

        mid = call(
            svc.base_url, "POST", "/api/v1/messages", xdis91_message(envelope_id="ENVOVR11"), token=TOKENS["hospital"]
        ).body["id"]
        wait_for(lambda: municipality.attempts >= 1)
        clock.write_text((T0 + timedelta(minutes=40)).isoformat())
        time.sleep(0.6)
        assert show(mid)["state"] == "accepted"  # still queued: the receiver is down

        municipality.mode = "ok"
        # the next retry (and any open circuit) is due by the service clock, which stands still in the file
        clock.write_text((T0 + timedelta(minutes=42)).isoformat())
        municipality.wait_for(1)
        wait_for(lambda: show(mid)["state"] == "delivered")

        clock.write_text((T0 + timedelta(minutes=43)).isoformat())  # 43 min after acceptance, 1 after delivery
        time.sleep(0.6)
        assert show(mid)["state"] == "delivered"

        clock.write_text((T0 + timedelta(minutes=73)).isoformat())  # 31 min after delivery
        wait_for(lambda: show(mid)["state"] == "ack_overdue")
    finally:
        svc.stop()
        hospital.stop()
        municipality.stop()
