"""Issue 12, items 1 and 3, inside a real app (real HTTP receiver, real SMTP, SQLite and PostgreSQL), with a
clock the test moves:

* a dead receiver whose queued messages are dead-lettered has NOT recovered: the route stays down, no
  "OK igen" and no "Løst" go out, until a delivery to it succeeds again;
* an automatic incident is scoped from the routes it affects: the failed receiver and every organisation
  with traffic on those routes (here the hospital that sends to it).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from edigate.app import NOTIFY, build_app
from edigate.health import EventKind
from edigate.monitor import HealthLoop
from edigate.store.schema import messages
from edigate.web.keys import HEALTH_LOOP
from tests.harness.receiver import Receiver
from tests.harness.smtp import SmtpServer
from tests.integration.health.conftest import EDI_SUPPORT, HOSPITAL, MUNICIPALITY, TOKENS, TUESDAY_10
from tests.integration.health.test_health_loop_inprocess import (
    MovableClock,
    wait_as_time_passes,
    wait_for,
    world_settings,
)
from tests.unit.medcom.samples import FICTITIOUS_CPR, xdis91_message

ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}
HOSPITAL_XML = {"Authorization": f"Bearer {TOKENS['hospital']}", "Content-Type": "application/xml"}


async def delivery_states(loop: HealthLoop) -> list[str]:
    async with loop.database.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(messages.c.delivery_state).where(messages.c.generated.is_(False)).order_by(messages.c.id)
        )
        return [r[0] for r in rows]


async def wait_states(loop: HealthLoop, clock: MovableClock, want: list[str]) -> None:
    for _ in range(400):
        if await delivery_states(loop) == want:
            return
        clock.now += timedelta(seconds=0.25)  # the worker's backoff runs on the test clock
        await asyncio.sleep(0.05)
    raise AssertionError(f"delivery states {await delivery_states(loop)} never became {want}")


async def test_dead_lettered_queue_is_not_recovery_and_the_incident_scopes_the_senders(
    storage_url: str, tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    settings = world_settings(
        tmp_path,
        receiver,
        smtp_server,
        storage_url,
        health={"interval_seconds": 3600, "auto_confirm": True},
        delivery={"max_attempts": 2},
    )
    clock = MovableClock(TUESDAY_10)
    app = build_app(settings, clock=clock)
    receiver.mode = "fail"
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        xml = xdis91_message(envelope_id="ENVDEAD001", letter_id="LETDEAD001")
        assert (await client.post("/api/v1/messages", data=xml, headers=HOSPITAL_XML)).status == 202
        await wait_states(loop, clock, ["failed"])  # dead-lettered after 2 failed attempts: queue empty

        # item 6: the sender is told (XCTL02 ikke_specificeret), through its own delivery (a directory)
        def negative_receipts() -> list[str]:
            folder = tmp_path / "out" / "hospital"
            texts = [p.read_text(encoding="utf-8", errors="replace") for p in folder.glob("*.xml")]
            return [t for t in texts if "NegativeReceipt" in t]

        (receipt,) = await wait_for(negative_receipts, timeout=15)
        assert "ikke_specificeret" in receipt and "ENVDEAD001" in receipt
        assert "kunne ikke afleveres til modtageren" in receipt

        clock.now = TUESDAY_10 + timedelta(seconds=10)
        events = await loop.tick()
        assert [e.kind for e in events] == [EventKind.RECEIVER_DOWN], events

        # item 1: the incident concerns the receiver AND the hospital sending to it
        (incident,) = (await (await client.get("/api/v1/incidents", headers=ADMIN)).json())["incidents"]
        assert incident["state"] == "open"  # auto_confirm
        assert set(incident["affected_organisations"]) == {MUNICIPALITY, HOSPITAL}

        # item 3: minutes later, the receiver still answers 500 and nothing is pending: still down
        for seconds in (30, 60, 180, 600):
            clock.now = TUESDAY_10 + timedelta(seconds=seconds)
            assert await loop.tick() == []
        assert loop.matrix.get(HOSPITAL, MUNICIPALITY).state == "down"  # type: ignore[union-attr]
        body = await (await client.get(f"/api/v1/incidents/{incident['id']}", headers=ADMIN)).json()
        assert body["state"] == "open"
        kinds = {n["kind"] for n in body["notices"]}
        assert "alert-recovered" not in kinds and "resolved" not in kinds, kinds

        # a delivery to the receiver succeeds again: now it is recovery (after the hold)
        receiver.mode = "ok"
        xml = xdis91_message(envelope_id="ENVDEAD002", letter_id="LETDEAD002")
        assert (await client.post("/api/v1/messages", data=xml, headers=HOSPITAL_XML)).status == 202
        await wait_as_time_passes(clock, lambda: len(receiver.received) == 1)
        await wait_states(loop, clock, ["failed", "delivered"])
        await loop.tick()
        clock.now += timedelta(seconds=3)
        assert [e.kind for e in await loop.tick()] == [EventKind.RECEIVER_RECOVERED]

        async def resolved() -> Any:
            body = await (await client.get(f"/api/v1/incidents/{incident['id']}", headers=ADMIN)).json()
            return body["state"] == "resolved"

        for _ in range(100):
            if await resolved():
                break
            await asyncio.sleep(0.05)
        assert await resolved()
        await wait_for(lambda: any("OK igen" in m.subject for m in smtp_server.catcher.mails), timeout=10)


async def test_unconfirmed_draft_stays_internal_and_closes_quietly(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """Item 2: a draft nobody confirmed is not on /status nor in the Atom feed, and when the receiver comes
    back (three hours later, well over the 2-hour rule) it is closed quietly: no list mail, no "[Løst]"."""
    settings = world_settings(tmp_path, receiver, smtp_server, health={"interval_seconds": 3600})
    clock = MovableClock(TUESDAY_10)
    app = build_app(settings, clock=clock)
    receiver.mode = "fail"
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        xml = xdis91_message(envelope_id="ENVDRAFT01", letter_id="LETDRAFT01")
        assert (await client.post("/api/v1/messages", data=xml, headers=HOSPITAL_XML)).status == 202
        await wait_for(lambda: receiver.attempts >= 1)
        await asyncio.sleep(0.2)
        clock.now = TUESDAY_10 + timedelta(seconds=10)
        assert [e.kind for e in await loop.tick()] == [EventKind.RECEIVER_DOWN]
        (incident,) = (await (await client.get("/api/v1/incidents", headers=ADMIN)).json())["incidents"]
        assert incident["state"] == "draft"

        async def public() -> str:
            page = await (await client.get("/status")).text()
            atom = await (await client.get("/status.atom")).text()
            return page + atom

        assert "Testkommune" not in await public() and "<entry>" not in await public()

        clock.now = TUESDAY_10 + timedelta(hours=3)
        await loop.tick()
        receiver.mode = "ok"
        await wait_as_time_passes(clock, lambda: len(receiver.received) == 1)
        await asyncio.sleep(0.3)
        await loop.tick()
        clock.now += timedelta(seconds=3)
        assert [e.kind for e in await loop.tick()] == [EventKind.RECEIVER_RECOVERED]
        body = await (await client.get(f"/api/v1/incidents/{incident['id']}", headers=ADMIN)).json()
        assert body["state"] == "closed" and body["resolved_at"], body["state"]
        assert any(a["action"] == "løst" for a in body["audit"])  # recorded, visible to the desk
        await wait_for(lambda: any("OK igen" in m.subject for m in smtp_server.catcher.mails), timeout=10)
        await app[NOTIFY].scheduler.run_once()  # the procedure's scheduler looks at every incident
        body = await (await client.get(f"/api/v1/incidents/{incident['id']}", headers=ADMIN)).json()
        assert not [n for n in body["notices"] if n["kind"] in ("first", "update", "resolved", "combined")]
        assert not [m for m in smtp_server.catcher.mails if m.subject.startswith("[Løst]")]
        assert "Testkommune" not in await public() and "<entry>" not in await public()
        resp = await client.post(f"/api/v1/incidents/{incident['id']}/confirm", json={}, headers=ADMIN)
        assert resp.status == 409  # a closed draft cannot be confirmed after the fact


async def test_a_retried_dead_letter_gets_a_fresh_age(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """Item 6: a message dead-lettered for its age, retried from the API once the receiver is back, is
    delivered; it is not dead-lettered again at once for the age it had before the retry."""
    settings = world_settings(
        tmp_path,
        receiver,
        smtp_server,
        health={"interval_seconds": 3600},
        delivery={"max_age_minutes": 0.1},  # 6 s in the queue
    )
    clock = MovableClock(TUESDAY_10)
    app = build_app(settings, clock=clock)
    receiver.mode = "fail"
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        xml = xdis91_message(envelope_id="ENVAGED001", letter_id="LETAGED001")
        reply = await client.post("/api/v1/messages", data=xml, headers=HOSPITAL_XML)
        assert reply.status == 202
        message_id = (await reply.json())["id"]
        await wait_states(loop, clock, ["failed"])  # aged out
        receiver.mode = "ok"
        clock.now += timedelta(minutes=30)
        resp = await client.post(f"/api/v1/messages/{message_id}/retry", headers=ADMIN)
        assert resp.status in (200, 202), await resp.text()
        await wait_for(lambda: len(receiver.received) == 1)
        await wait_states(loop, clock, ["delivered"])


async def test_a_receipt_overdue_past_the_alert_time_mails_the_desk_with_route_and_count(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """Item 6: two messages delivered, no receipt (XCTL03) after ack_alert_minutes: one mail to EDI support
    (Tuesday inside its hours) naming the route and the count, never the CPR."""
    settings = world_settings(
        tmp_path,
        receiver,
        smtp_server,
        health={"interval_seconds": 3600},
        delivery={"ack_timeout_minutes": 30, "ack_alert_minutes": 90, "ack_sweep_interval_seconds": 0.1},
    )
    clock = MovableClock(TUESDAY_10)
    app = build_app(settings, clock=clock)
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        for n in (1, 2):
            xml = xdis91_message(envelope_id=f"ENVACK00{n}", letter_id=f"LETACK00{n}")
            assert (await client.post("/api/v1/messages", data=xml, headers=HOSPITAL_XML)).status == 202
        await wait_states(loop, clock, ["delivered", "delivered"])
        clock.now = TUESDAY_10 + timedelta(minutes=91)
        await wait_for(lambda: loop._ack_alerts, timeout=10)  # the sweep found them past the alert time
        await loop.tick()
        (mail,) = await asyncio.to_thread(smtp_server.catcher.wait_for, 1)
        assert mail.rcpt_tos == [EDI_SUPPORT]
        assert "KVITTERING MANGLER" in mail.subject and "Testsygehus Syd → Testkommune" in mail.subject
        text = mail.text()
        assert "2 meddelelser fra Testsygehus Syd" in text and "XDIS91" in text
        assert FICTITIOUS_CPR not in text and FICTITIOUS_CPR not in mail.subject
        await loop.tick()  # nothing new: no second mail
        await asyncio.sleep(0.5)
        assert len(smtp_server.catcher.mails) == 1


async def test_routes_page_and_api_show_what_was_measured(
    tmp_path: Path, receiver: Receiver, smtp_server: SmtpServer
) -> None:
    """Item 14: right after healthy deliveries (no receipts yet) the API lists the route as ok; the page
    shows "ingen trafik" (grey) where nothing was measured, its counts agree with the cells, and it links
    back to /status."""
    settings = world_settings(tmp_path, receiver, smtp_server, health={"interval_seconds": 3600})
    clock = MovableClock(TUESDAY_10)
    app = build_app(settings, clock=clock)
    async with TestClient(TestServer(app)) as client:
        loop: HealthLoop = app[HEALTH_LOOP]
        for n in range(3):
            xml = xdis91_message(envelope_id=f"ENVTRAF00{n}", letter_id=f"LETTRAF00{n}")
            assert (await client.post("/api/v1/messages", data=xml, headers=HOSPITAL_XML)).status == 202
        await wait_states(loop, clock, ["delivered"] * 3)
        await loop.tick()

        body = await (await client.get("/api/v1/routes", headers=ADMIN)).json()
        assert [(r["sender"], r["receiver"], r["state"]) for r in body["routes"]] == [(HOSPITAL, MUNICIPALITY, "ok")]

        page = await (await client.get("/routes")).text()
        cells = page.count('<td class="quiet"') + page.count('<td class="ok"')
        assert cells == 4  # 2 hospitals × 2 municipalities
        assert page.count('<td class="ok"') == 1 and page.count('<td class="quiet"') == 3
        assert "Celler: 1 ok, 0 forstyrret, 0 nede, 3 ingen trafik." in page
        assert 'href="/status"' in page
