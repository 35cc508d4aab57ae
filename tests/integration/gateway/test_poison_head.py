"""Issue 10 item 3: an Identifier with a line break must never block a receiver's queue.

At intake it is refused with a syntaksfejl XCTL02 (the schemas' Text14 allows it; edigate accepts 1–14
visible ASCII characters). A message that got into the store anyway (written there directly, bypassing
intake, as an old row or another writer could) is dead-lettered at its first attempt with the reason, the
route shows it, and the messages behind it are delivered: HTTP refuses such a header value, the directory
transport encodes the file name, the mailbox answers JSON.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

from edigate.clock import system_clock
from edigate.medcom import Validator
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import IngestItem
from tests.integration.gateway.conftest import DIRECTORY_MUNI, HOSPITAL, MAILBOX_MUNI, MUNICIPALITY, Gateway
from tests.integration.gateway.test_flow import wait_state
from tests.unit.medcom.samples import xdis91_message

POISON_ID = "PZ\nX-Evil: "  # + a digit


def test_identifier_with_a_line_break_is_refused_at_intake(gateway: Gateway) -> None:
    xml = xdis91_message(envelope_id="PZ", letter_id="LETPZ01").replace(
        b"<Identifier>PZ</Identifier>", b"<Identifier>PZ&#10;X-Evil: 1</Identifier>"
    )
    reply = gateway.post(xml)
    assert reply.status == 422, reply
    assert reply.body["refuse_code"] == "syntaksfejl"
    assert "Envelope/Identifier skal være 1–14 synlige ASCII-tegn" in reply.body["reason"]
    assert "X-Evil" not in reply.body["reason"]
    # the sender gets its XCTL02, and the receiver's queue is free for the next message
    (receipt,) = gateway.hospital_rx.wait_for(1)
    assert b"NegativeReceipt" in receipt and b"syntaksfejl" in receipt
    good = xdis91_message(envelope_id="ENVPZOK1", letter_id="LETPZOK1")
    assert gateway.post(good).status == 202
    assert gateway.municipality_rx.wait_for(1) == [good]


def _poisoned(receiver: str, tag: str, n: int) -> IngestItem:
    """A valid message for `receiver` whose stored envelope id has a line break (as intake never allows)."""
    body = xdis91_message(envelope_id=f"ENV{tag}", letter_id=f"LET{tag}", receiver_ean=receiver)
    env = Validator().validate(body).envelope
    assert env is not None
    return IngestItem(dataclasses.replace(env, id=f"{POISON_ID}{n}"), body)


async def _store_directly(storage_url: str, items: list[IngestItem]) -> list[int]:
    db = Database.open(storage_url)
    store = MessageStore(db, system_clock)
    await store.start()
    try:
        outcomes = [await store.accept(item) for item in items]
    finally:
        await store.stop()
        await db.close()
    assert [o.kind for o in outcomes] == ["accepted"] * len(items), outcomes
    return [o.id for o in outcomes if o.id is not None]


def test_a_poison_head_is_dead_lettered_at_once_and_fifo_goes_on(gateway: Gateway, storage_url: str) -> None:
    poison_http, poison_dir, poison_mailbox = asyncio.run(
        _store_directly(
            storage_url,
            [
                _poisoned(MUNICIPALITY, "PH1", 1),
                _poisoned(DIRECTORY_MUNI, "PH2", 2),
                _poisoned(MAILBOX_MUNI, "PH3", 3),
            ],
        )
    )
    behind = [xdis91_message(envelope_id=f"ENVBEHIND{i}", letter_id=f"LETBEHIND{i}") for i in range(3)]
    for xml in behind:
        assert gateway.post(xml).status == 202

    # HTTP: the head is a dead letter at its first attempt, with its reason; everything behind it arrives
    assert gateway.municipality_rx.wait_for(3) == behind
    dead = wait_state(gateway, poison_http, "failed")
    assert dead["attempts"] == 1, dead
    assert "kan ikke sendes over HTTP" in dead["last_error"] and "X-Edigate-Envelope-Id" in dead["last_error"]
    assert all(b"X-Evil" not in body for body in gateway.municipality_rx.bodies())

    # the route shows it (and names the reason), the receiver is not blamed for it
    deadline = time.monotonic() + 20
    route: dict = {}
    while time.monotonic() < deadline:
        route = gateway.get(f"/api/v1/routes/{HOSPITAL}/{MUNICIPALITY}").body
        if route.get("dead_letters"):
            break
        time.sleep(0.2)
    assert route.get("dead_letters") == 1, route
    assert "kan ikke sendes over HTTP" in route["last_dead_letter"]
    assert "dead_letters" in [r["code"] for r in route["reasons"]]
    assert route["circuit"] == "closed" and route["consecutive_failures"] == 0

    # directory: the file name is encoded, the message delivered as it is
    wait_state(gateway, poison_dir, "delivered")
    folder = gateway.outdir / "directory-muni"
    (written,) = [p for p in folder.iterdir() if not p.name.startswith(".")]
    assert written.name == f"{poison_dir:012d}-PZ_X-Evil__2.xml"
    assert written.parent == folder and b"ENVPH2" in written.read_bytes()

    # mailbox: JSON carries the id escaped; the receiver can fetch and confirm it
    got = gateway.get("/api/v1/mailbox?limit=5", "mailbox").body["messages"]
    assert [(m["id"], m["envelope_id"]) for m in got] == [(poison_mailbox, f"{POISON_ID}3")]
