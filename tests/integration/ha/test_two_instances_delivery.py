"""Two `edigate serve` processes on one PostgreSQL, no load balancer: the test posts to both, kills -9
the one that is delivering mid-flight, and the other finishes: every 202 arrives at the real receiver;
the duplicates the crash causes are counted, printed and bounded by the worker's in-flight batch."""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import pytest

from tests.harness.burst import post_and_kill
from tests.harness.delivered import delivered_through, wait_delivered
from tests.harness.receiver import Receiver
from tests.harness.service import Service, make_service
from tests.integration.gateway.conftest import TOKENS, call, config_text
from tests.unit.medcom.samples import xdis91_message

pytestmark = pytest.mark.postgres

TOTAL = 300
KILL_AFTER = 120  # 202s seen before the kill
BATCH_SIZE = 20  # [delivery] batch_size: what one drain task reads and may POST before it commits


def delivered_count(svc: Service) -> int:
    return svc.log_text().count("message_delivered")


def test_two_instances_kill_9_one_mid_flight_the_other_delivers_everything(
    postgres_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    from edigate.delivery.worker import FLUSH_MAX

    hospital_rx = Receiver().start()
    services: list[Service] = []
    try:
        for name in ("a", "b"):
            workdir = tmp_path / name
            workdir.mkdir()
            text = config_text(postgres_url, hospital_rx.url, receiver.url, tmp_path / "out", batch_size=BATCH_SIZE)
            services.append(make_service(text, workdir))
        services[0].start()
        services[1].start()
        victim: list[Service] = []

        def kill() -> None:
            # kill the instance that is delivering (it holds the receiver's queue lease) mid-flight
            target = max(services, key=delivered_count)
            victim.append(target)
            target.kill9()

        accepted, outcomes = asyncio.run(
            post_and_kill(
                [svc.base_url for svc in services],  # alternating: message i goes to instance i % 2
                TOKENS["hospital"],
                TOTAL,
                tag="HA",
                connections=20,
                kill_after=KILL_AFTER,
                kill=kill,
            )
        )
        assert victim, f"the kill did not happen: {dict(outcomes)}"
        dead = victim[0]
        survivor = services[1] if dead is services[0] else services[0]
        assert dead.proc is not None and dead.proc.returncode == -9
        assert KILL_AFTER <= len(accepted) < TOTAL, f"{len(accepted)} accepted: the kill came too late"
        delivered_by_dead = delivered_count(dead)

        wait_delivered(receiver, accepted, timeout=90)
        # a message after all of them: once it is in, no further copy of one before it can come
        marker = call(
            survivor.base_url,
            "POST",
            "/api/v1/messages",
            xdis91_message(envelope_id="ENVHAEND", letter_id="LETHAEND"),
            token=TOKENS["hospital"],
        )
        assert marker.status == 202, marker
        got = [e for e in delivered_through(receiver, "ENVHAEND", timeout=90) if e != "ENVHAEND"]
        missing = accepted - set(got)
        counts = collections.Counter(got)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        print(
            f"\nHA delivery: {TOTAL} posted alternating to 2 instances, {len(accepted)} got 202 "
            f"({dict(outcomes)}); killed the delivering instance after it logged {delivered_by_dead} "
            f"deliveries; survivor delivered the rest: {len(set(got))} distinct delivered, {len(missing)} "
            f"missing, {duplicates} duplicate deliveries (bound: batch_size={BATCH_SIZE}, "
            f"flush every {FLUSH_MAX})"
        )
        assert not missing, f"{len(missing)} messages that got 202 never arrived: {sorted(missing)[:10]}"
        assert all(n <= 2 for n in counts.values()), "a message was delivered more than twice"
        assert duplicates <= BATCH_SIZE, f"{duplicates} duplicates > the in-flight batch {BATCH_SIZE}"
        assert delivered_count(survivor) > 0, "the survivor delivered nothing"
        # the survivor still serves
        assert survivor.proc is not None and survivor.proc.poll() is None
    finally:
        for svc in services:
            svc.stop()
        hospital_rx.stop()
