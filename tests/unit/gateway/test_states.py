"""The state enums are the stored vocabulary: renaming a member must never change what rows and the API hold.

A database written by an older edigate holds these exact strings, and API clients filter on them
(`?state=ack_overdue`), so the values are pinned here by hand, not derived from the enums.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa

from edigate.store import schema
from edigate.store.model import STATES
from edigate.store.states import DeliveryState, MessageEvent, MessageState, ReceiptState

STORED: list[tuple[type[StrEnum], sa.Column[Any], set[str]]] = [
    (
        MessageState,
        schema.messages.c.state,
        {"accepted", "delivered", "acknowledged", "refused", "ack_overdue", "failed", "rejected"},
    ),
    (DeliveryState, schema.messages.c.delivery_state, {"pending", "delivered", "failed", "none"}),
    (ReceiptState, schema.letters.c.receipt_state, {"acknowledged", "refused"}),
]


@pytest.mark.parametrize(("enum", "column", "values"), STORED, ids=lambda v: getattr(v, "__name__", ""))
def test_values_are_the_stored_ones_and_fit(enum: type[StrEnum], column: sa.Column[Any], values: set[str]) -> None:
    assert {m.value for m in enum} == values
    width = column.type.length  # type: ignore[attr-defined]
    assert all(len(v) <= width for v in values), f"{column} is VARCHAR({width})"


def test_history_events_keep_their_names() -> None:
    # operators and the receipt-overdue test read these in a message's history
    assert MessageEvent.RECEIPT_OVERDUE.value == "ack_overdue"
    assert MessageEvent.RECEIPT_ALERT.value == "ack_alert"
    assert MessageEvent.RECEIPT_UNCORRELATED.value == "receipt_uncorrelated"
    width = schema.events.c.event.type.length  # type: ignore[attr-defined]
    assert all(len(e) <= width for e in MessageEvent)


def test_a_member_is_its_string_everywhere_it_goes() -> None:
    assert tuple(MessageState) == STATES
    assert json.dumps({"state": MessageState.RECEIPT_OVERDUE}) == '{"state": "ack_overdue"}'
    assert f"{DeliveryState.PENDING}" == "pending"
    assert {"refused": 1}[MessageState.REFUSED] == 1  # rows read back are plain strings; they look members up
