"""Delivery transports end to end: http with a receiver that is down then up (order kept), the mailbox,
the directory; and two gateways sharing one PostgreSQL database."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from tests.harness.delivered import delivered_through, envelope_ids
from tests.integration.gateway.conftest import (
    DIRECTORY_MUNI,
    MAILBOX_MUNI,
    TOKENS,
    Gateway,
    call,
)
from tests.unit.medcom.samples import xdis91_message


def test_receiver_down_then_up_keeps_order(gateway: Gateway) -> None:
    rx = gateway.municipality_rx
    rx.mode = "fail"
    sent = [f"ENVORD{i:03d}" for i in range(8)]
    for i, env in enumerate(sent):  # one after the other: each correction after its original's 202
        status = "rettetbrev" if i % 2 else "nytbrev"
        reply = gateway.post(xdis91_message(envelope_id=env, letter_id=f"LETORD{i:03d}", status=status))
        assert reply.status == 202, reply
    deadline = time.monotonic() + 15
    while rx.attempts < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rx.attempts >= 4, "the gateway did not retry"
    first = gateway.get("/api/v1/messages?envelope_id=ENVORD000").body["messages"][0]
    assert first["state"] == "accepted" and first["attempts"] >= 1 and "500" in first["last_error"]
    assert rx.received == []  # nothing overtook the failing head
    rx.mode = "ok"
    bodies = rx.wait_for(len(sent), timeout=30)
    assert envelope_ids(bodies) == sent


def test_mailbox_transport(gateway: Gateway) -> None:
    for i in range(3):
        assert (
            gateway.post(
                xdis91_message(envelope_id=f"ENVMBX{i:03d}", letter_id=f"LETMBX{i:03d}", receiver_ean=MAILBOX_MUNI)
            ).status
            == 202
        )
    token = TOKENS["mailbox"]
    got = call(gateway.url, "GET", "/api/v1/mailbox?limit=2", token=token)
    assert got.status == 200
    msgs = got.body["messages"]
    assert [m["envelope_id"] for m in msgs] == ["ENVMBX000", "ENVMBX001"]  # oldest first
    assert b"ENVMBX000" in base64.b64decode(msgs[0]["xml_base64"])
    # leased: not handed out twice while the lease runs
    rest = call(gateway.url, "GET", "/api/v1/mailbox?limit=10", token=token).body["messages"]
    assert [m["envelope_id"] for m in rest] == ["ENVMBX002"]
    assert call(gateway.url, "POST", f"/api/v1/mailbox/{msgs[0]['id']}/ack", token=token).status == 200
    assert (
        call(gateway.url, "POST", f"/api/v1/mailbox/{msgs[0]['id']}/ack", token=TOKENS["municipality"]).status == 404
    )  # not the receiver's message
    # unconfirmed ones come back after the lease (2 s in the test config)
    time.sleep(2.5)
    again = call(gateway.url, "GET", "/api/v1/mailbox?limit=10", token=token).body["messages"]
    assert [m["envelope_id"] for m in again] == ["ENVMBX001", "ENVMBX002"]
    shown = gateway.get(f"/api/v1/messages/{msgs[0]['id']}").body
    assert shown["state"] == "delivered"
    assert call(gateway.url, "GET", "/api/v1/mailbox", token="nope").status == 401


def test_directory_transport(gateway: Gateway) -> None:
    xml = xdis91_message(envelope_id="ENVDIR001", letter_id="LETDIR001", receiver_ean=DIRECTORY_MUNI)
    reply = gateway.post(xml)
    assert reply.status == 202
    folder = gateway.outdir / "directory-muni"
    deadline = time.monotonic() + 15
    files: list[Any] = []
    while time.monotonic() < deadline:
        files = sorted(folder.glob("*.xml")) if folder.is_dir() else []
        if files:
            break
        time.sleep(0.05)
    assert [f.name for f in files] == [f"{reply.body['id']:012d}-ENVDIR001.xml"]
    assert files[0].read_bytes() == xml
    assert not list(folder.glob(".tmp-*"))  # no half-written files left behind


@pytest.mark.postgres
def test_two_instances_share_delivery_without_duplicates(gateway_factory: Any, storage_url: str) -> None:
    if not storage_url.startswith("postgresql"):
        pytest.skip("two instances on one database is the PostgreSQL deployment; SQLite is single-instance")
    a = gateway_factory()
    b = gateway_factory(hospital_rx=a.hospital_rx, municipality_rx=a.municipality_rx)
    sent = [f"ENVTWO{i:03d}" for i in range(60)]
    for i, env in enumerate(sent):
        gw = a if i % 2 else b  # ingest on both
        assert gw.post(xdis91_message(envelope_id=env, letter_id=f"LETTWO{i:03d}")).status == 202
    assert b.post(xdis91_message(envelope_id="ENVTWOEND", letter_id="LETTWOEND")).status == 202
    got = delivered_through(a.municipality_rx, "ENVTWOEND")  # a second copy would have come before it
    assert sorted(got) == sorted([*sent, "ENVTWOEND"]), "lost or duplicated"
    assert got == [*sent, "ENVTWOEND"], "order per receiver not kept across instances"


def test_dead_letter_then_retry(gateway_factory: Any) -> None:
    gw = gateway_factory(max_attempts=2, circuit_failure_threshold=10)
    gw.municipality_rx.fail_marker = b"ENVDEAD1"  # only the first is refused; the one behind it is taken
    first = gw.post(xdis91_message(envelope_id="ENVDEAD1", letter_id="LETDEAD1"))
    second = gw.post(xdis91_message(envelope_id="ENVDEAD2", letter_id="LETDEAD2"))
    assert first.status == second.status == 202, (first, second, gw.service.log_text()[-3000:])
    mid, behind = first.body["id"], second.body["id"]
    deadline = time.monotonic() + 20
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = gw.get(f"/api/v1/messages/{mid}").body
        if shown["state"] == "failed":
            break
        time.sleep(0.1)
    assert shown["state"] == "failed" and shown["attempts"] == 2, shown
    assert "opgivet efter 2 forsøg" in shown["last_error"] and "HTTP 500" in shown["last_error"]
    # dead-lettered, and the sender's negative receipt (XCTL02 ikke_specificeret) queued with it
    assert [e["event"] for e in shown["history"]][-2:] == ["failed", "receipt_queued"]

    assert envelope_ids(gw.municipality_rx.wait_for(1)) == ["ENVDEAD2"]  # the queue moved on
    gw.municipality_rx.fail_marker = None
    retry = call(gw.url, "POST", f"/api/v1/messages/{mid}/retry", token=TOKENS["hospital"])
    assert retry.status == 200
    assert envelope_ids(gw.municipality_rx.wait_for(2)) == ["ENVDEAD2", "ENVDEAD1"]
    assert gw.get(f"/api/v1/messages/{behind}").body["state"] == "delivered"
    deadline = time.monotonic() + 10
    while gw.get(f"/api/v1/messages/{mid}").body["state"] != "delivered" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gw.get(f"/api/v1/messages/{mid}").body["state"] == "delivered"
