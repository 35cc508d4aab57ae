"""The words the store writes into its state columns, one enum per column.

The values are what the database holds and the API shows (`state`, `delivery_state`, `receipt_state`,
the history's `event`), so they never change; the member names may. A `StrEnum` member *is* its value
(`MessageState.ACCEPTED == "accepted"`), so rows read back as plain strings compare equal to the members.

Words (docs/architecture.md, "Words"): a *receipt* is MedCom's answer to a message (XCTL01/02/03, a FHIR
Acknowledgement); a *fetch confirmation* is the mailbox transport's "I have fetched message N".
"""

from __future__ import annotations

from enum import StrEnum


class MessageState(StrEnum):
    """gw_messages.state: where a message is in MedCom's life of a message."""

    ACCEPTED = "accepted"  # stored and answered 202; waiting for delivery
    DELIVERED = "delivered"  # handed to the receiver (HTTP 2xx, SMTP accepted, or a mailbox fetch confirmation)
    ACKNOWLEDGED = "acknowledged"  # a positive receipt came (XCTL03, FHIR Acknowledgement `ok`)
    REFUSED = "refused"  # a negative receipt came (XCTL02/XCTL01, FHIR Acknowledgement with an error)
    RECEIPT_OVERDUE = "ack_overdue"  # pluspositivkvitt asked for, no receipt after delivery.ack_timeout_minutes
    FAILED = "failed"  # delivery gave up (dead letter); the sender got a negative receipt
    REJECTED = "rejected"  # refused at ingest (invalid, unknown receiver …); never delivered


# The states a receipt may still change (a receipt for a rejected message is uncorrelated).
RECEIPT_MAY_SET = frozenset(
    {
        MessageState.ACCEPTED,
        MessageState.DELIVERED,
        MessageState.RECEIPT_OVERDUE,
        MessageState.ACKNOWLEDGED,
        MessageState.REFUSED,
        MessageState.FAILED,
    }
)


class DeliveryState(StrEnum):
    """gw_messages.delivery_state: the delivery queue's view of a message."""

    PENDING = "pending"  # in its receiver's queue (or leased to a mailbox, not yet confirmed fetched)
    DELIVERED = "delivered"
    FAILED = "failed"  # dead letter: `edigate messages retry` puts it back
    NONE = "none"  # rejected at ingest: nothing to deliver


class ReceiptState(StrEnum):
    """gw_letters.receipt_state: the receipt's verdict on one letter (NULL: no receipt yet)."""

    ACKNOWLEDGED = "acknowledged"
    REFUSED = "refused"


class MessageEvent(StrEnum):
    """gw_events.event: the lines of a message's history. A receipt that changes the message's state is
    recorded under the new state's name (`acknowledged`, `refused`); one that does not, as `receipt`."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    DELIVERED = "delivered"
    ATTEMPT_FAILED = "attempt_failed"
    FAILED = "failed"
    RETRY = "retry"
    MAILBOX_LEASED = "mailbox_leased"
    RECEIPT = "receipt"
    RECEIPT_QUEUED = "receipt_queued"  # a negative receipt edigate built was queued to the sender
    RECEIPT_UNCORRELATED = "receipt_uncorrelated"  # a receipt that names no message it may answer
    RECEIPT_OVERDUE = "ack_overdue"
    RECEIPT_ALERT = "ack_alert"  # still no receipt after delivery.ack_alert_minutes: an IT alert
