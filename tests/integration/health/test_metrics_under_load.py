"""`/metrics` scraped while messages of known types are posted concurrently: every counter equals what was
sent (received by type/sender/receiver/outcome, deliveries per receiver, validation observations), and
the gauges settle to an empty queue. The real service, the real receiver."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.integration.health.conftest import HOSPITAL, MUNICIPALITY, World, metric_value
from tests.unit.medcom.samples import xdis20_message, xdis91_message

N91, N20, N_INVALID, N_DUPLICATE, N_UNAUTHORIZED = 24, 16, 4, 3, 2


def invalid_xdis91(i: int) -> bytes:
    xml = xdis91_message(envelope_id=f"ENVBAD{i:05d}", letter_id=f"LETBAD{i:05d}")
    return xml.replace(b"<Priority>rutine</Priority>", b"<Priority>straks-ugyldig</Priority>")


def test_counters_equal_what_was_sent(world_factory: Any) -> None:
    world: World = world_factory()
    messages = (
        [xdis91_message(envelope_id=f"ENV91L{i:05d}", letter_id=f"LET91L{i:05d}") for i in range(N91)]
        + [xdis20_message(envelope_id=f"ENV20L{i:05d}", letter_id=f"LET20L{i:05d}") for i in range(N20)]
        + [invalid_xdis91(i) for i in range(N_INVALID)]
    )
    scrapes: list[str] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            scrapes.append(world.metrics())

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(world.post_message, messages))
    for i in range(N_DUPLICATE):
        assert world.post_message(messages[i]).status == 200
    for _ in range(N_UNAUTHORIZED):
        assert world.post_message(messages[0], token="not-a-token").status == 401
    stop.set()
    scraper.join(10)

    assert [r.status for r in replies].count(202) == N91 + N20, [r for r in replies if r.status != 202][:3]
    assert [r.status for r in replies].count(422) == N_INVALID
    world.receiver.wait_for(N91 + N20, timeout=60)
    assert scrapes and all("edigate_messages_received_total" in s or "edigate_up" in s for s in scrapes)

    route = {"sender": HOSPITAL, "receiver": MUNICIPALITY}

    def settled() -> str | None:
        """Every delivery counted, the queue empty, and the route ok: on a loaded machine the posts can outrun
        the delivery loop long enough (10 s here) for the route to be degraded by the rules, and it is ok
        again only after the recovery hold (2 s) once the queue is empty."""
        text = world.metrics()
        ok = metric_value(text, "edigate_deliveries_total", receiver=MUNICIPALITY, outcome="delivered")
        depth = metric_value(text, "edigate_queue_depth", receiver=MUNICIPALITY)
        state_ok = metric_value(text, "edigate_route_state", **route, state="ok") in (None, 1)
        return text if ok == N91 + N20 and depth == 0 and state_ok else None

    text = world.wait_until(settled, timeout=30, what="delivery counters, the queue and the route to settle")
    received = "edigate_messages_received_total"
    assert metric_value(text, received, type="XDIS91", **route, outcome="accepted") == N91
    assert metric_value(text, received, type="XDIS20", **route, outcome="accepted") == N20
    assert metric_value(text, received, type="XDIS91", **route, outcome="invalid") == N_INVALID
    assert metric_value(text, received, type="XDIS91", **route, outcome="duplicate") == N_DUPLICATE
    assert (
        metric_value(text, received, type="unknown", sender="unknown", receiver="unknown", outcome="unauthorized")
        == N_UNAUTHORIZED
    )
    total = sum(float(v) for v in re.findall(rf"^{received}{{.*}} (\S+)$", text, re.M))
    assert total == N91 + N20 + N_INVALID + N_DUPLICATE + N_UNAUTHORIZED

    failed = metric_value(text, "edigate_deliveries_total", receiver=MUNICIPALITY, outcome="failed")
    assert failed in (None, 0)
    assert metric_value(text, "edigate_delivery_duration_seconds_count", receiver=MUNICIPALITY) == N91 + N20
    validated = "edigate_validation_duration_seconds_count"
    validations = sum(metric_value(text, validated, type=t) or 0 for t in ("XDIS91", "XDIS20"))
    assert validations == N91 + N20 + N_INVALID + N_DUPLICATE  # an unauthenticated request is not validated
    # the route ends neither degraded nor down (it may have no series at all when the monitor, ticking every
    # 0.3 s, never saw anything pending on it)
    assert metric_value(text, "edigate_route_state", **route, state="ok") in (None, 1)
    assert metric_value(text, "edigate_route_state", **route, state="degraded") in (None, 0)
    assert metric_value(text, "edigate_route_state", **route, state="down") in (None, 0)
    assert metric_value(text, "edigate_queue_oldest_age_seconds", receiver=MUNICIPALITY) == 0
