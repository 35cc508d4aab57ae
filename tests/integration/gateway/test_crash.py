"""Crash safety: kill -9 the gateway while 500 messages are in flight; every 202 must still arrive."""

from __future__ import annotations

import asyncio
import collections

from tests.harness.burst import post_and_kill
from tests.harness.delivered import wait_delivered
from tests.integration.gateway.conftest import TOKENS, Gateway

TOTAL = 500
KILL_AFTER = 150  # 202s seen before the kill


def test_kill_9_with_messages_in_flight_loses_nothing_that_got_202(gateway: Gateway) -> None:
    rx = gateway.municipality_rx
    accepted, outcomes = asyncio.run(
        post_and_kill(
            [gateway.url],
            TOKENS["hospital"],
            TOTAL,
            tag="CR",
            connections=50,
            kill_after=KILL_AFTER,
            kill=gateway.service.kill9,
        )
    )
    assert gateway.service.proc is not None and gateway.service.proc.returncode == -9, (
        f"the kill did not happen: {dict(outcomes)}\n{gateway.service.log_text()[-2000:]}"
    )
    assert KILL_AFTER <= len(accepted) < TOTAL, f"{len(accepted)} accepted: the kill came too late to test much"

    gateway.service.start()  # same database, same receiver
    got_list = wait_delivered(rx, accepted, timeout=90)
    missing = accepted - set(got_list)
    duplicates = {e: n for e, n in collections.Counter(got_list).items() if n > 1}
    print(
        f"\ncrash test: {len(accepted)} got 202 before kill -9, {len(set(got_list))} distinct delivered, "
        f"{len(missing)} missing, {len(duplicates)} delivered twice"
    )
    assert not missing, f"{len(missing)} messages that got 202 never arrived: {sorted(missing)[:10]}"
    # at-least-once: a POST that succeeded right before the kill may be repeated after restart, never more
    assert all(n == 2 for n in duplicates.values())
    assert len(duplicates) <= 100
