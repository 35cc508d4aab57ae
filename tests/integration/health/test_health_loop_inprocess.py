"""The route health loop inside a real app (the gateway's `build_app` plus the health setup calls), on
SQLite and PostgreSQL, with a clock the test moves: the store signals, one receiver-level event for all
routes into a failing receiver, the JSON matrix with reasons and per-type drill-down, the HTML matrix,
the gauges, and recovery after the hold. The HTTP receiver and the SMTP server are real."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from edigate.app import build_app
from edigate.health import EventKind
from edigate.medcom import Validator, build_positive_receipt
from edigate.monitor import HealthLoop
from edigate.settings import Settings, parse_settings
from edigate.store.db import Database
from edigate.store.health_queries import StoreSignals, read_route_signals
from edigate.web.keys import HEALTH_LOOP
from tests.harness.config import sqlite_url
from tests.harness.receiver import Receiver
from tests.harness.smtp import SmtpServer
from tests.integration.health.conftest import (
    HOSPITAL,
    HOSPITAL2,
    MAILBOX,
    MUNICIPALITY,
    MUNICIPALITY2,
    ON_CALL,
    TOKENS,
    TUESDAY_10,
    config_text,
    metric_value,
)
from tests.unit.medcom.samples import xdis20_message, xdis91_message

SENT = datetime(2026, 11, 24, 10, 5)


class MovableClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def world_settings(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer, storage_url: str | None = None, **config: Any
) -> Settings:
    """The health world as the service would load it (SQLite in tmp_path unless `storage_url` is given)."""
    url = storage_url or sqlite_url(tmp_path / "edigate.db")
    text = config_text(url, receiver.url, tmp_path / "out", smtp_server.port, **config)
    return parse_settings(tomllib.loads(text.replace("{port}", "8080")), base_dir=tmp_path)


async def first_failure_committed(database: Database, clock: MovableClock) -> StoreSignals:
    """MUNICIPALITY's route signals once a failed attempt is committed (just after the receiver answered)."""
    for _ in range(100):
        sig = await read_route_signals(database, [MUNICIPALITY], clock())
        if sig.routes and sig.routes[0].consecutive_failures:
            break
        await asyncio.sleep(0.05)
    return sig


async def wait_for(predicate: Any, timeout: float = 15.0, between: Callable[[], None] | None = None) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = predicate()
        if value:
            return value
        if between is not None:
            between()
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def wait_as_time_passes(clock: MovableClock, predicate: Any, timeout: float = 20.0) -> Any:
    """Wait for `predicate` while the test clock moves on as a real one would (0.25 s per 0.05 s).

    A retry's due time is read from the clock when the worker records the failure. The receiver answers
    from its own thread, so that can happen just after the test moved the clock: one fixed jump could
    then leave the retry due forever after the frozen "now"."""

    def tick() -> None:
        clock.now += timedelta(seconds=0.25)

    return await wait_for(predicate, timeout, between=tick)


async def test_receiver_down_matrix_and_recovery(
    storage_url: str, tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    # the loop's own task ticks once at start and then sleeps: this test drives tick() itself
    settings = world_settings(tmp_path, receiver, smtp_server, storage_url, health={"interval_seconds": 3600})
    clock = MovableClock(TUESDAY_10)
    app = build_app(settings, clock=clock)
    receiver.mode = "fail"
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        hospital = {"Authorization": f"Bearer {TOKENS['hospital']}", "Content-Type": "application/xml"}
        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        hospital2 = {**hospital, "Authorization": f"Bearer {TOKENS['hospital2']}"}
        posts = [
            (hospital, xdis91_message(envelope_id="ENVIP0001", letter_id="LETIP0001")),
            (hospital, xdis20_message(envelope_id="ENVIP0002", letter_id="LETIP0002")),
            (hospital2, xdis91_message(envelope_id="ENVIP0003", letter_id="LETIP0003", sender_ean=HOSPITAL2)),
        ]
        for headers, xml in posts:
            resp = await client.post("/api/v1/messages", data=xml, headers=headers)
            assert resp.status == 202, await resp.text()
        await wait_for(lambda: receiver.attempts >= 1)

        sig = await first_failure_committed(loop.database, clock)
        assert [(r.sender, r.receiver) for r in sig.routes] == [
            (HOSPITAL, MUNICIPALITY),
            (HOSPITAL2, MUNICIPALITY),
        ]
        route = sig.routes[0]
        assert route.pending_count == 2 and set(route.by_type) == {"XDIS91", "XDIS20"}
        assert route.consecutive_failures >= 1 and route.failing_since == TUESDAY_10
        assert route.last_error and "500" in route.last_error
        # delivery is FIFO per receiver: the failing head blocks HOSPITAL2's route too
        assert sig.routes[1].failing_since == TUESDAY_10 and sig.routes[1].pending_count == 1
        assert sig.queues[MUNICIPALITY][0] == 3

        assert await loop.tick() == []  # one failure is not an outage
        clock.now = TUESDAY_10 + timedelta(seconds=6)  # past down_unreachable (5 s)
        events = await loop.tick()
        assert [e.kind for e in events] == [EventKind.RECEIVER_DOWN], events
        # one event for the receiver, naming both routes into it
        assert events[0].routes == ((HOSPITAL, MUNICIPALITY), (HOSPITAL2, MUNICIPALITY))
        assert events[0].since == TUESDAY_10 and events[0].message_types == ("XDIS20", "XDIS91")
        assert await loop.tick() == []  # no repeat while it stays down

        resp = await client.get("/api/v1/routes", headers=admin)
        body = await resp.json()
        assert resp.status == 200 and body["receivers_down"] == [MUNICIPALITY]
        rows = [r for r in body["routes"] if r["receiver"] == MUNICIPALITY]
        assert [r["state"] for r in rows] == ["down", "down"]  # every route into the receiver
        (row,) = [r for r in rows if r["sender"] == HOSPITAL]
        assert row["state"] == "down" and row["receiver_name"] == "Testkommune"
        assert {r["code"] for r in row["reasons"]} >= {"receiver_down", "unreachable"}
        assert set(row["types"]) == {"XDIS91", "XDIS20"} and row["types"]["XDIS91"]["pending_count"] == 1
        resp = await client.get(f"/api/v1/routes/{HOSPITAL}/{MUNICIPALITY}", headers=admin)
        assert (await resp.json())["state"] == "down"
        resp = await client.get(f"/api/v1/routes/{MUNICIPALITY2}/{HOSPITAL}", headers=admin)
        assert (await resp.json())["state"] == "ok"  # a known route without traffic
        resp = await client.get(f"/api/v1/routes/{HOSPITAL2}/{MUNICIPALITY2}", headers=admin)
        assert (await resp.json())["state"] == "ok"
        assert (await client.get("/api/v1/routes")).status == 401

        html = await (await client.get("/routes")).text()
        assert "Testsygehus Syd" in html and "Testkommune" in html
        assert "nede" in html and "ok" in html and "<script" not in html

        metrics = await (await client.get("/metrics")).text()
        labels = {"sender": HOSPITAL, "receiver": MUNICIPALITY}
        assert metric_value(metrics, "edigate_route_state", **labels, state="down") == 1
        assert metric_value(metrics, "edigate_queue_depth", receiver=MUNICIPALITY) == 3
        assert metric_value(metrics, "edigate_queue_oldest_age_seconds", receiver=MUNICIPALITY) == 6
        assert metric_value(metrics, "edigate_incidents_open", kind="acute") == 1
        alerts = await asyncio.to_thread(smtp_server.catcher.wait_for, 1)
        assert len(alerts) == 1 and "2 ruter" in alerts[0].subject, [m.subject for m in alerts]

        # the receiver comes back: delivered, then ok only after the recovery hold (2 s)
        receiver.mode = "ok"
        await wait_as_time_passes(clock, lambda: len(receiver.received) == 3)  # past the backoff
        await asyncio.sleep(0.3)  # the delivered mark is committed right after the POST
        assert await loop.tick() == []  # better, but not yet for the hold
        clock.now += timedelta(seconds=3)
        events = await loop.tick()
        assert [e.kind for e in events] == [EventKind.RECEIVER_RECOVERED], events
        assert loop.matrix.get(HOSPITAL, MUNICIPALITY).state == "ok"  # type: ignore[union-attr]
        metrics = await (await client.get("/metrics")).text()
        assert metric_value(metrics, "edigate_route_state", **labels, state="ok") == 1
        assert metric_value(metrics, "edigate_queue_depth", receiver=MUNICIPALITY) == 0

        # the municipality's receipt (XCTL03) 90 s after delivery: one receipt latency observation
        clock.now += timedelta(seconds=90)
        original = Validator().validate(posts[0][1]).envelope
        receipt = build_positive_receipt(original, envelope_id="KVITIP01", letter_id="KVLIP01", sent=SENT)  # type: ignore[arg-type]
        municipality = {
            "Authorization": f"Bearer {TOKENS['municipality']}",
            "Content-Type": "application/xml",
        }
        resp = await client.post("/api/v1/messages", data=receipt, headers=municipality)
        assert resp.status == 202, await resp.text()
        await loop.tick()
        metrics = await (await client.get("/metrics")).text()
        assert metric_value(metrics, "edigate_receipt_latency_seconds_count", type="XDIS91") == 1
        assert 90 <= (metric_value(metrics, "edigate_receipt_latency_seconds_sum", type="XDIS91") or 0) < 100


async def test_night_alert_goes_to_on_call_and_reminders_are_bounded(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """Saturday 03:00 is outside EDI support hours and outside the notice window: the alert still goes out
    at once, to on-call; it is repeated once after the repeat interval (max_reminders = 1) and then never."""
    settings = world_settings(tmp_path, receiver, smtp_server, health={"interval_seconds": 3600})
    night = datetime.fromisoformat("2026-11-28T03:00:00+01:00")
    clock = MovableClock(night)
    app = build_app(settings, clock=clock)
    receiver.mode = "fail"
    catcher = smtp_server.catcher
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        headers = {"Authorization": f"Bearer {TOKENS['hospital']}", "Content-Type": "application/xml"}
        xml = xdis91_message(envelope_id="ENVNIGHT01", letter_id="LETNIGHT01")
        assert (await client.post("/api/v1/messages", data=xml, headers=headers)).status == 202
        await first_failure_committed(loop.database, clock)
        await loop.tick()
        clock.now = night + timedelta(seconds=10)
        assert [e.kind for e in await loop.tick()] == [EventKind.RECEIVER_DOWN]
        mails = await asyncio.to_thread(catcher.wait_for, 1)
        assert mails[0].rcpt_tos == [ON_CALL] and "NEDE" in mails[0].subject
        assert "drifts- og ledelsesvagten" in mails[0].text()

        for minutes in (30, 61, 125, 190):  # repeat interval 60 min, at most one reminder
            clock.now = night + timedelta(minutes=minutes)
            await loop.tick()
        # the reminder is sent by the outbox (it polls every 0.2 s); that it came once is checked below, once
        # the 08:00 notice (queued after it, the outbox sends in order) has come
        await wait_for(lambda: [m for m in catcher.mails if "PÅMINDELSE" in m.subject], timeout=20)

        # on-call confirms the draft at night with > 2 h expected: the notice waits for the 08:00 window
        admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
        (incident,) = (await (await client.get("/api/v1/incidents", headers=admin)).json())["incidents"]
        assert incident["state"] == "draft" and incident["affected_organisations"] == [MUNICIPALITY, HOSPITAL]
        end = (night + timedelta(hours=6)).isoformat()
        update = {"text": "Kommunens modtagelse er nede.", "expected_end": end}
        resp = await client.post(f"/api/v1/incidents/{incident['id']}/updates", json=update, headers=admin)
        assert resp.status == 200, await resp.text()
        resp = await client.post(f"/api/v1/incidents/{incident['id']}/confirm", json={}, headers=admin)
        assert resp.status == 200, await resp.text()
        await asyncio.sleep(1.5)
        mailbox = MAILBOX[MUNICIPALITY]
        assert not [m for m in catcher.mails if mailbox in m.rcpt_tos], "a notice went out at night"
        clock.now = datetime.fromisoformat("2026-11-28T08:00:05+01:00")
        notices = await wait_for(lambda: [m for m in catcher.mails if mailbox in m.rcpt_tos], timeout=15)
        assert len(notices) == 1
        subjects = [m.subject for m in catcher.mails]
        assert len([s for s in subjects if "PÅMINDELSE" in s]) == 1, subjects
        assert len([s for s in subjects if s.startswith("[edigate] NEDE")]) == 1, subjects
        assert all(m.rcpt_tos == [ON_CALL] for m in catcher.mails if m.subject.startswith("[edigate]"))


async def test_metrics_off_keeps_route_health(tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer) -> None:
    """`[metrics] enabled = false` (the benchmark's OFF side): no /metrics, but the matrix still works."""
    settings = world_settings(tmp_path, receiver, smtp_server, metrics=False)
    app = build_app(settings, clock=MovableClock(TUESDAY_10))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 404
        await app[HEALTH_LOOP].tick()
        resp = await client.get("/api/v1/routes", headers={"Authorization": f"Bearer {TOKENS['hospital']}"})
        assert resp.status == 200 and (await resp.json())["routes"] == []
        assert "Testkommune" in await (await client.get("/routes")).text()


async def test_restart_during_an_outage_neither_mails_twice_nor_opens_a_second_incident(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """The process that announced an outage stops; its successor (same database) sees the same outage: it
    keeps the one draft incident and the one alert mail, and still sends the recovered mail."""
    settings = world_settings(tmp_path, receiver, smtp_server, health={"interval_seconds": 3600})
    clock = MovableClock(TUESDAY_10)
    catcher = smtp_server.catcher
    admin = {"Authorization": f"Bearer {TOKENS['admin']}"}
    receiver.mode = "fail"

    async def down_once() -> HealthLoop:
        loop: HealthLoop = app[HEALTH_LOOP]
        await first_failure_committed(loop.database, clock)
        events = await loop.tick()
        clock.now += timedelta(seconds=10)
        events += await loop.tick()
        # (the loop's own task ticks once at start-up: the successor may see the outage there)
        assert [e.kind for e in events] in ([EventKind.RECEIVER_DOWN], [])
        assert loop.matrix.receivers_down == {MUNICIPALITY}
        return loop

    app = build_app(settings, clock=clock)
    async with TestClient(TestServer(app)) as client:
        headers = {"Authorization": f"Bearer {TOKENS['hospital']}", "Content-Type": "application/xml"}
        xml = xdis91_message(envelope_id="ENVRESTART1", letter_id="LETRESTART1")
        assert (await client.post("/api/v1/messages", data=xml, headers=headers)).status == 202
        await down_once()
        await asyncio.to_thread(catcher.wait_for, 1)

        async def alert_marked_sent() -> bool:  # a stop between SMTP 250 and the mark resends (at-least-once)
            body = await (await client.get("/api/v1/incidents/1", headers=admin)).json()
            return any(r["notice"] == "alert" and r["status"] == "sent" for r in body["recipients"])

        for _ in range(100):
            if await alert_marked_sent():
                break
            await asyncio.sleep(0.05)
        assert await alert_marked_sent()

    clock.now += timedelta(minutes=3)
    app = build_app(settings, clock=clock)  # the successor
    async with TestClient(TestServer(app)) as client:
        await down_once()
        await asyncio.sleep(1.0)
        subjects = [m.subject for m in catcher.mails]
        assert len([s for s in subjects if "NEDE" in s]) == 1, subjects
        incidents = (await (await client.get("/api/v1/incidents", headers=admin)).json())["incidents"]
        assert len(incidents) == 1 and incidents[0]["state"] == "draft"

        receiver.mode = "ok"
        await wait_as_time_passes(clock, lambda: len(receiver.received) == 1)
        await asyncio.sleep(0.3)
        loop: HealthLoop = app[HEALTH_LOOP]
        await loop.tick()
        clock.now += timedelta(seconds=3)
        assert [e.kind for e in await loop.tick()] == [EventKind.RECEIVER_RECOVERED]
        await wait_for(lambda: any("OK igen" in m.subject for m in catcher.mails), timeout=10)
        incidents = (await (await client.get("/api/v1/incidents", headers=admin)).json())["incidents"]
        assert [i["state"] for i in incidents] == ["closed"]  # a draft closes quietly (issue 12)
