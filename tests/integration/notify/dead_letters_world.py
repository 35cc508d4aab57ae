"""A test world for the desk's page of dead letters: the real `edigate serve` with the outage procedure, a
hospital that sends over the API and a municipality whose inbox is a real HTTP receiver (tests/harness).

Two delivery attempts and a message is a dead letter; the receiver's `fail_marker` refuses just the messages
a test names, so the queue behind them moves on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness import config as cfg
from tests.harness.eans import HOSPITAL, MUNICIPALITY
from tests.harness.http import request
from tests.harness.receiver import Receiver
from tests.harness.service import Service, make_service
from tests.unit.medcom.samples import xdis91_message

TOKENS = {"hospital": "tok-hospital", "admin": "tok-admin", "region": "tok-regional-it", "eoj": "tok-eoj"}
FAST_DELIVERY = {
    "max_attempts": 2,
    "backoff_base_seconds": 0.1,
    "backoff_max_seconds": 0.3,
    "circuit_failure_threshold": 10,
    "circuit_open_seconds": 0.5,
    "poll_interval_seconds": 0.2,
    "http_timeout_seconds": 3.0,
}
REGION = "5799999000003"
MUNICIPALITY_NAME = "Testkommune Vest"


@dataclass
class DeadLetterWorld:
    service: Service
    receiver: Receiver

    def post(self, envelope_id: str, **kw: Any) -> int:
        body = xdis91_message(envelope_id=envelope_id, letter_id="L" + envelope_id, **kw)
        reply = request(
            self.service.base_url + "/api/v1/messages",
            "POST",
            body,
            token=TOKENS["hospital"],
            headers={"Content-Type": "application/xml"},
        )
        assert reply.status == 202, reply
        return int(reply.body["id"])

    def message(self, mid: int) -> dict[str, Any]:
        reply = request(f"{self.service.base_url}/api/v1/messages/{mid}", "GET", token=TOKENS["admin"])
        assert reply.status == 200, reply
        return dict(reply.body)

    def wait_state(self, mid: int, state: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        shown = self.message(mid)
        while shown["state"] != state and time.monotonic() < deadline:
            time.sleep(0.1)
            shown = self.message(mid)
        assert shown["state"] == state, shown
        return shown

    def dead_letter(self, envelope_id: str, **kw: Any) -> int:
        """Post a message the receiver refuses until it is given up; the receiver takes others meanwhile."""
        self.receiver.fail_marker = envelope_id.encode()
        mid = self.post(envelope_id, **kw)
        self.wait_state(mid, "failed")
        self.receiver.fail_marker = None
        return mid

    def received_envelopes(self) -> list[bytes]:
        return [r.body for r in self.receiver.received]


def build(tmp_path: Path) -> DeadLetterWorld:
    receiver = Receiver().start()
    text = "".join(
        [
            cfg.base(cfg.sqlite_url(tmp_path / "edigate.db"), "EDI-support admin", TOKENS["admin"]),
            cfg.table("delivery", FAST_DELIVERY),
            cfg.partner(
                HOSPITAL,
                "Testsygehus Syd",
                "hospital",
                "Fyn",
                cfg.directory_delivery(tmp_path / "out" / HOSPITAL),
                token=TOKENS["hospital"],
            ),
            cfg.partner(MUNICIPALITY, MUNICIPALITY_NAME, "municipality", "Fyn", cfg.http_delivery(receiver.url)),
            cfg.partner(REGION, "Regional IT", "region", [], cfg.directory_delivery(tmp_path / "out" / REGION)),
            cfg.notify(
                cfg.directory_mail(tmp_path / "mail"),
                edi_support_email="edi-support@rsyd.example",
                on_call_email="driftsvagt@rsyd.example",
            ),
            cfg.reporter("Regional IT", REGION, "regional-it", TOKENS["region"]),
            cfg.reporter("EOJ Testkommune", MUNICIPALITY, "eoj", TOKENS["eoj"]),
        ]
    )
    return DeadLetterWorld(make_service(text, tmp_path), receiver)
