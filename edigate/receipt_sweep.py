"""The receipt sweep: a message sent with pluspositivkvitt whose MedCom receipt has not come is marked
overdue (state `ack_overdue`) after `delivery.ack_timeout_minutes` (30) and raised as an alert after
`ack_alert_minutes` (90).

Runs on the leader only when two instances share a database. The log events keep their historic names
(`message_ack_overdue`, `message_ack_alert`): operators' alert rules match them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import structlog

from edigate.config import DeliverySettings
from edigate.store.messages import MessageStore
from edigate.store.model import MissingReceiptAlert

log = structlog.get_logger()

MissingReceiptHook = Callable[[MissingReceiptAlert], Awaitable[None]]


async def sweep_overdue_receipts(
    store: MessageStore,
    delivery: DeliverySettings,
    is_leader: Callable[[], bool],
    hooks: Sequence[MissingReceiptHook] = (),
    first_pass: asyncio.Event | None = None,
) -> None:
    """Until cancelled: every `ack_sweep_interval_seconds`, mark overdue receipts and call the hooks.
    `first_pass` is set once the first pass is over (the service starts answering after it)."""
    d = delivery
    while True:
        if not is_leader():  # two instances: the sweep (and its alerts) runs on the leader only
            if first_pass is not None:
                first_pass.set()
            await asyncio.sleep(min(1.0, d.ack_sweep_interval_seconds))
            continue
        try:
            overdue, alerts = await store.sweep_missing_receipts(
                timedelta(minutes=d.ack_timeout_minutes), timedelta(minutes=d.ack_alert_minutes)
            )
            for mid in overdue:
                log.warning("message_ack_overdue", message_id=mid)
            for alert in alerts:
                log.error(
                    "message_ack_alert",
                    message_id=alert.id,
                    envelope_id=alert.envelope_id,
                    route=f"{alert.sender_ean}->{alert.receiver_ean}",
                    type=alert.type,
                )
                for hook in hooks:
                    try:
                        await hook(alert)
                    except Exception as exc:
                        log.warning("receipt_alert_hook_failed", error=type(exc).__name__)
        except Exception as exc:
            log.warning("receipt_sweep_failed", error=type(exc).__name__)
        if first_pass is not None:
            first_pass.set()
        await asyncio.sleep(d.ack_sweep_interval_seconds)
