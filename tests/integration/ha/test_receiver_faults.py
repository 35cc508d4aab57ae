"""A receiver that answers 500, hangs, or closes the connection: the gateway retries, keeps the order,
times out the hanging POST (the http transport's timeout), keeps serving meanwhile, and delivers every
message exactly in order once the receiver is back."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.delivered import delivered_through
from tests.harness.receiver import Receiver
from tests.harness.service import Service, make_service
from tests.integration.gateway.conftest import TOKENS, Reply, call, config_text
from tests.unit.medcom.samples import xdis91_message

HTTP_TIMEOUT = 1.0  # [delivery] http_timeout_seconds in this test world
MESSAGES = 10


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Service, Receiver]]:
    hospital_rx = Receiver().start()
    municipality_rx = Receiver().start()
    text = config_text(
        f"sqlite:///{tmp_path / 'edigate.db'}",
        hospital_rx.url,
        municipality_rx.url,
        tmp_path / "out",
        http_timeout_seconds=HTTP_TIMEOUT,
    )
    svc = make_service(text, tmp_path)
    svc.start()
    try:
        yield svc, municipality_rx
    finally:
        svc.stop()
        for rx in (hospital_rx, municipality_rx):
            if rx._loop is not None:  # hung handlers would hold a graceful stop for seconds
                rx._loop.call_soon_threadsafe(rx._loop.stop)


def post(svc: Service, env: str, i: int, timeout: float = 15.0) -> Reply:
    body = xdis91_message(envelope_id=env, letter_id=f"LET{env[3:]}", status="rettetbrev" if i % 2 else "nytbrev")
    return call(svc.base_url, "POST", "/api/v1/messages", body, token=TOKENS["hospital"], timeout=timeout)


@pytest.mark.parametrize("mode", ["fail", "hang", "close"])
def test_receiver_fault_then_recovery_delivers_all_in_order(world: tuple[Service, Receiver], mode: str) -> None:
    svc, rx = world
    rx.mode = mode
    sent = [f"ENVRF{mode[:2].upper()}{i:03d}" for i in range(MESSAGES)]
    for i, env in enumerate(sent):
        reply = post(svc, env, i)
        assert reply.status == 202, reply

    deadline = time.monotonic() + 20
    while rx.attempts < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rx.attempts >= 3, f"the gateway did not retry against a receiver in mode {mode}"

    # the service keeps serving while its delivery is stuck on this receiver
    started = time.monotonic()
    assert call(svc.base_url, "GET", "/healthz", timeout=5).status == 200
    extra = f"ENVRF{mode[:2].upper()}X00"
    assert post(svc, extra, 0, timeout=5).status == 202
    serve_seconds = time.monotonic() - started
    sent.append(extra)

    head = call(svc.base_url, "GET", f"/api/v1/messages?envelope_id={sent[0]}", token=TOKENS["admin"]).body
    first = head["messages"][0]
    assert first["state"] == "accepted" and first["attempts"] >= 1, first
    expected_error = {"fail": "500", "hang": "TimeoutError", "close": ""}[mode]
    assert expected_error in first["last_error"], first["last_error"]
    assert rx.received == [], "something overtook the failing head"
    attempts_during_fault = rx.attempts

    rx.mode = "ok"
    rx.wait_for(len(sent), timeout=30)
    marker = f"ENVRF{mode[:2].upper()}END"  # after all of them: once it is in, no copy of one can follow
    assert post(svc, marker, 0).status == 202
    got = [e for e in delivered_through(rx, marker) if e != marker]
    duplicates = sum(n - 1 for n in collections.Counter(got).values())
    print(
        f"\nreceiver {mode}: {len(sent)} messages, {attempts_during_fault} failed attempts during the fault, "
        f"healthz+POST answered in {serve_seconds:.2f}s meanwhile, {len(set(got))} delivered in order after "
        f"recovery, {duplicates} duplicates"
    )
    assert got == sent, "lost, duplicated or out of order"
