"""Issue 10 item 6: a receiver's RefuseText never carries a CPR number into metadata or listings.

The XCTL02 body goes to the original sender byte for byte (bodies hold CPR numbers anyway and are guarded as
such); what the gateway keeps as metadata, the refuse_text of the message and its letters, is scrubbed of CPR
numbers in every written form before it is stored, and again when it is shown.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edigate.clock import system_clock
from edigate.medcom import build_negative_receipt
from edigate.store.correlation import partner_text
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import IngestItem
from notify.cpr import contains_cpr
from tests.integration.gateway.test_flow import SENT, envelope_of, wait_state
from tests.unit.gateway.envelopes import envelope, positive_receipt
from tests.unit.medcom.samples import xdis91_message

FORMS = ["010170-9996", "0101709996", "010170 9996", "01.01.70-9996", "01.01.70 9996", "CPR:0101709996"]
REFUSE_TEXT = "Ukendt patient " + ", ".join(FORMS) + " i EOJ"
DIGITS = re.compile(r"\d{4}")


def test_partner_text_scrubs_every_written_form() -> None:
    for form in FORMS:
        cleaned = partner_text(f"pt {form} afvist")
        assert cleaned is not None and not contains_cpr(cleaned) and "9996" not in cleaned, (form, cleaned)
    assert partner_text("Ukendt lokationsnummer 5790001382445") == "Ukendt lokationsnummer 5790001382445"
    assert partner_text("a\x00b\x1bc") == "a b c"
    assert partner_text(None) is None
    assert len(partner_text("x" * 5000) or "") == 1000


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[MessageStore]:
    db = Database.open(f"sqlite:///{tmp_path / 's.db'}")
    st = MessageStore(db, system_clock)
    await st.start()
    yield st
    await st.stop()
    await db.close()


async def test_store_keeps_no_cpr_from_refuse_text(store: MessageStore) -> None:
    env = envelope("E1", ("L1", "L2"))
    first = await store.accept(IngestItem(env, b"<x/>"))
    assert first.id is not None
    refusal = positive_receipt("R1", env, refused="ikke_specificeret")
    rc = refusal.receipt
    assert rc is not None
    rc = dataclasses.replace(
        rc, refuse_text=REFUSE_TEXT, letter_refusals=(("L2", "ikke_specificeret", "cpr 010170 9996 forkert"),)
    )
    await store.accept(IngestItem(dataclasses.replace(refusal, receipt=rc), b"<r/>"))
    shown = await store.get(first.id)
    assert shown is not None and shown["state"] == "refused"
    texts = [shown["refuse_text"], *(lt["refuse_text"] for lt in shown["letters"])]
    assert all(t and "[cpr]" in t for t in texts), texts
    assert not any(contains_cpr(t) or "9996" in t for t in texts), texts


def test_refuse_text_with_a_cpr_is_scrubbed_end_to_end(gateway) -> None:  # type: ignore[no-untyped-def]
    xml = xdis91_message(envelope_id="ENVRTCPR1", letter_id="LETRTCPR1")
    mid = gateway.post(xml).body["id"]
    gateway.municipality_rx.wait_for(1)
    refusal = build_negative_receipt(
        envelope_of(xml),
        envelope_id="KVITCPR1",
        letter_id="KVITCPRL1",
        sent=SENT,
        refuse_code="ikke_specificeret",
        refuse_text="PLACEHOLDER",
    ).replace(b"PLACEHOLDER", REFUSE_TEXT.encode("iso-8859-1"))  # as a receiver's system writes it
    assert gateway.post(refusal, "municipality").status == 202

    shown = wait_state(gateway, mid, "refused")
    # as the sender sees it (an admin also gets the body, which holds the patient's CPR by design)
    listing = gateway.get("/api/v1/messages?state=refused", "hospital")
    assert listing.body["count"] == 1
    for raw in (gateway.get(f"/api/v1/messages/{mid}", "hospital").raw, listing.raw):
        text = raw.decode()
        assert "9996" not in text and not contains_cpr(text.replace("\\n", " ")), text[:500]
    assert shown["refuse_text"].startswith("Ukendt patient [cpr]")
    assert shown["letters"][0]["refuse_text"] == shown["refuse_text"]
    # the receipt itself reaches the original sender unchanged
    assert gateway.hospital_rx.wait_for(1) == [refusal]
