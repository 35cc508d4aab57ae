"""A `gw_messages` row written straight into the table, for tests that need thousands of rows in a second
(query plans, keyset pages, the health tick's reads, retention). Only what a test varies is an argument;
the rest is what the store writes for a plain OIOXML message with a one-byte body."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def message_row(
    envelope_id: str,
    sender: str,
    receiver: str,
    at: datetime,
    *,
    type: str = "XDIS91",
    receipt: bool = False,
    ack_requested: bool | None = None,
    state: str = "delivered",
    delivery_state: str = "delivered",
    attempts: int = 0,
    body: bytes = b"x",
    **columns: Any,
) -> dict[str, Any]:
    """One row created and last changed at `at`; a receipt asks for no receipt unless told. `columns` adds or
    overrides any other column (`delivered_at`, `receipt_at`, …)."""
    return {
        "envelope_id": envelope_id,
        "sender_ean": sender,
        "receiver_ean": receiver,
        "type": type,
        "ack_requested": (not receipt) if ack_requested is None else ack_requested,
        "is_receipt": receipt,
        "generated": False,
        "state": state,
        "delivery_state": delivery_state,
        "body": body,
        "body_size": len(body),
        "created_at": at,
        "updated_at": at,
        "attempts": attempts,
        **columns,
    }
