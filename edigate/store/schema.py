"""The gateway's tables (SQLAlchemy Core); their history is in edigate/migrations.

Ordering: `messages.id` is allocated at commit of the ingest transaction, and a sender only sends a
correction after its original got a 202, so ascending id per receiver is the FIFO order. The CPR is
never a column: it lives only inside `body`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (text) and PostgreSQL alike."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY = rowid on SQLite

metadata = sa.MetaData()

messages = sa.Table(
    "gw_messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("envelope_id", sa.String(64), nullable=False),
    sa.Column("sender_ean", sa.String(13), nullable=False),
    sa.Column("receiver_ean", sa.String(13), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),  # catalogue type or FHIR standard
    sa.Column("version_code", sa.String(16)),
    sa.Column("ack_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("is_receipt", sa.Boolean, nullable=False, default=False),
    sa.Column("generated", sa.Boolean, nullable=False, default=False),  # built by edigate (XCTL02)
    # life: accepted -> delivered -> acknowledged | refused | ack_overdue; failed; rejected (never queued)
    sa.Column("state", sa.String(16), nullable=False),
    # the delivery queue: pending -> delivered | failed; none for rejected messages
    sa.Column("delivery_state", sa.String(12), nullable=False),
    sa.Column("refuse_code", sa.String(32)),
    sa.Column("refuse_text", sa.Text),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("body_size", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    sa.Column("receipt_at", UtcDateTime),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_until", UtcDateTime),  # mailbox lease
    sa.Column("receipt_for_id", sa.BigInteger),  # this receipt answers that message
    sa.Column("receipt_id", sa.BigInteger),  # the receipt that answered this message
    sa.Column("resend_of_id", sa.BigInteger),  # a re-sent copy of that receipt (duplicate handling)
    sa.Column("ack_alerted_at", UtcDateTime),
    sa.Column("format", sa.String(16)),  # NULL = OIOXML; fhir+json | fhir+xml
)
sa.Index("gw_messages_queue", messages.c.receiver_ean, messages.c.delivery_state, messages.c.id)
sa.Index(
    "gw_messages_envelope",
    messages.c.sender_ean,
    messages.c.envelope_id,
    unique=True,
    sqlite_where=messages.c.resend_of_id.is_(None),
    postgresql_where=messages.c.resend_of_id.is_(None),
)
# Listings and searches (newest first: ORDER BY created_at DESC, id DESC, keyset cursor on the same pair):
# each documented filter is the equality prefix of one index whose tail is the order, so a page is an
# index range scan that stops after `limit` rows however many are stored.
_LISTING_INDEXES = {
    "gw_messages_created": (),
    "gw_messages_state_created": ("state",),
    "gw_messages_envelope_created": ("envelope_id",),
    "gw_messages_sender_created": ("sender_ean",),
    "gw_messages_receiver_created": ("receiver_ean",),
    "gw_messages_sender_state_created": ("sender_ean", "state"),
    "gw_messages_receiver_state_created": ("receiver_ean", "state"),
}
for _name, _prefix in _LISTING_INDEXES.items():
    sa.Index(_name, *(messages.c[c] for c in _prefix), messages.c.created_at, messages.c.id)

# The receipt sweep reads only the messages still waiting for a receipt (partial indexes on the deadline's
# column): the query repeats these predicates word for word, which is what lets SQLite use them. The state
# is compared as `state || ''` so that no planner takes the state index instead (without statistics SQLite
# prefers an equality on `gw_messages_state_created`, which holds every delivered message ever).
AWAITING_RECEIPT = "(state || '') = 'delivered' AND ack_requested AND receipt_id IS NULL"
OVERDUE_UNALERTED = "(state || '') = 'ack_overdue' AND ack_alerted_at IS NULL"
sa.Index(
    "gw_messages_awaiting_receipt",
    messages.c.delivered_at,
    sqlite_where=sa.text(AWAITING_RECEIPT),
    postgresql_where=sa.text(AWAITING_RECEIPT),
)
sa.Index(
    "gw_messages_overdue_unalerted",
    messages.c.delivered_at,
    sqlite_where=sa.text(OVERDUE_UNALERTED),
    postgresql_where=sa.text(OVERDUE_UNALERTED),
)
# The health tick's per-route aggregate of the queues: an index-only read of the pending rows (a partial
# index holds nothing else), never a visit of the table's rows.
PENDING = "(delivery_state || '') = 'pending'"
sa.Index(
    "gw_messages_pending_routes",
    messages.c.receiver_ean,
    messages.c.sender_ean,
    messages.c.type,
    messages.c.created_at,
    sqlite_where=sa.text(PENDING),
    postgresql_where=sa.text(PENDING),
)
# Retention reads the rows by last change, from its watermark on (`retention_watermark`), never the whole table.
# No index mentions the body (not as a column, not in a predicate), so a purge, which changes only the body,
# can be a HOT update on PostgreSQL: a new row version on the same page and no new index entry (issue 14:
# with the body in a partial index's predicate each purged body wrote an entry in every index of the table).
sa.Index("gw_messages_updated", messages.c.updated_at, messages.c.id)

letters = sa.Table(
    "gw_letters",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("letter_id", sa.String(64), nullable=False),
    sa.Column("sender_ean", sa.String(13), nullable=False),
    sa.Column("version_code", sa.String(16)),
    sa.Column("status_code", sa.String(16)),  # nytbrev | rettetbrev
    sa.Column("receipt_state", sa.String(16)),  # acknowledged | refused
    sa.Column("refuse_code", sa.String(32)),
    sa.Column("refuse_text", sa.Text),
    sa.Column("receipt_at", UtcDateTime),
)
sa.Index("gw_letters_message", letters.c.message_id)
sa.Index("gw_letters_sender_letter", letters.c.letter_id, letters.c.sender_ean)

events = sa.Table(
    "gw_message_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text),
)
sa.Index("gw_events_message", events.c.message_id, events.c.id)

# How far retention has read (a key of `gw_messages_updated`): every row before it either had its body
# purged or was not purgeable then, and a row becomes purgeable only by a change that sets its updated_at to
# now, after the watermark (edigate/store/retention.py). One row per job; today only 'bodies'.
retention_watermark = sa.Table(
    "gw_retention_watermark",
    metadata,
    sa.Column("job", sa.String(16), primary_key=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("message_id", sa.BigInteger, nullable=False),
)

delivery_queues = sa.Table(
    "gw_delivery_queues",
    metadata,
    sa.Column("receiver_ean", sa.String(13), primary_key=True),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_until", UtcDateTime),
)
