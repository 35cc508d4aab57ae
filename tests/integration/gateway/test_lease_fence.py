"""A delivery worker that cannot renew its lease on a receiver's queue stops sending before the lease can
have passed to another instance (PostgreSQL, two instances on one database).

Seen as a duplicate at the receiver: under load one instance's renewal waited past its lease, the other
instance leased the queue and sent its head, and the first instance's drain, not yet told, sent it too.
Here another session locks the lease table, so the worker's renewal waits as it did then."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import asyncpg
import pytest

from tests.harness.delivered import envelope_ids, wait_delivered
from tests.integration.gateway.conftest import FAST_DELIVERY
from tests.unit.medcom.samples import xdis91_message

LEASE = float(FAST_DELIVERY["worker_lease_seconds"])  # 3 s, renewed every second
HOLD = 8.0  # how long the lease table stays locked: far past the lease


def hold_the_lease_table(url: str, locked: threading.Event, failed: list[BaseException]) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE gw_delivery_queues IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.sleep(HOLD)
        finally:
            await conn.close()

    try:
        asyncio.run(run())
    except BaseException as exc:  # shown by the test, not lost in the thread
        failed.append(exc)
        locked.set()


@pytest.mark.postgres
def test_a_queue_whose_lease_was_not_renewed_is_not_sent_from(gateway_factory: Any, storage_url: str) -> None:
    if not storage_url.startswith("postgresql"):
        pytest.skip("leases between instances are the PostgreSQL deployment; SQLite is single-instance")
    gw = gateway_factory()
    assert gw.post(xdis91_message(envelope_id="ENVFENCE0", letter_id="LETFENCE0")).status == 202
    assert "ENVFENCE0" in wait_delivered(gw.municipality_rx, ["ENVFENCE0"], 30)  # leased and draining

    locked, failed = threading.Event(), list[BaseException]()
    holder = threading.Thread(target=hold_the_lease_table, args=(storage_url, locked, failed), daemon=True)
    holder.start()
    assert locked.wait(30) and not failed, failed
    locked_at = time.monotonic()
    # Every renewal from now on waits for the lock. The last one began before `locked_at`, so the lease
    # the store holds for this instance ends before locked_at + LEASE: from then on another instance may
    # lease the queue. Post well inside that, after the worker's own margin (one renewal period) began.
    time.sleep(max(0.0, locked_at + LEASE - 0.5 - time.monotonic()))
    assert gw.post(xdis91_message(envelope_id="ENVFENCE1", letter_id="LETFENCE1")).status == 202
    time.sleep(max(0.0, locked_at + HOLD - 1.0 - time.monotonic()))
    assert envelope_ids(gw.municipality_rx.bodies()) == ["ENVFENCE0"], "sent on a lease that may be gone"
    assert "lease_not_renewed" in gw.service.log_text()

    holder.join(HOLD + 30)
    assert not failed, failed
    # renewed once the lock is gone: the queue moves on, nothing sent twice
    got = wait_delivered(gw.municipality_rx, ["ENVFENCE1"], 30)
    assert got == ["ENVFENCE0", "ENVFENCE1"], got
