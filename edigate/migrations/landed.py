"""The landed schema, frozen: the tables as commit 60024f2 left them, before the Alembic history.

Revision 0001 creates exactly these tables on a new database. A database made by an earlier edigate carries its
history in `schema_migrations` (one row per component: gateway, notify, notify_directory, notify_sessions,
notify_portal_tasks); `complete_landed` brings it to this schema (every landed step was "create what is missing",
so completing is safe at any of their versions), drops `schema_migrations`, and Alembic is stamped at 0001.

Never edit these definitions: a change of schema is a new revision in `versions/`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

LEGACY_TABLE = "schema_migrations"

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY = rowid on SQLite
Time = sa.DateTime  # the gateway's UtcDateTime: naive UTC in a TIMESTAMP (PostgreSQL) or ISO text (SQLite)
IsoText = sa.String(40)  # notify's times before revision 0002: 'YYYY-MM-DDTHH:MM:SS.ffffff+00:00'

metadata = sa.MetaData()

# ------------------------------------------------------------------------------------------------ gateway

gw_messages = sa.Table(
    "gw_messages",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("envelope_id", sa.String(64), nullable=False),
    sa.Column("sender_ean", sa.String(13), nullable=False),
    sa.Column("receiver_ean", sa.String(13), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("version_code", sa.String(16)),
    sa.Column("ack_requested", sa.Boolean, nullable=False),
    sa.Column("is_receipt", sa.Boolean, nullable=False),
    sa.Column("generated", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("delivery_state", sa.String(12), nullable=False),
    sa.Column("refuse_code", sa.String(32)),
    sa.Column("refuse_text", sa.Text),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("body_size", sa.Integer, nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    sa.Column("delivered_at", Time),
    sa.Column("receipt_at", Time),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Time),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_until", Time),
    sa.Column("receipt_for_id", sa.BigInteger),
    sa.Column("receipt_id", sa.BigInteger),
    sa.Column("resend_of_id", sa.BigInteger),
    sa.Column("ack_alerted_at", Time),
    sa.Column("format", sa.String(16)),
)
_m = gw_messages.c
sa.Index("gw_messages_queue", _m.receiver_ean, _m.delivery_state, _m.id)
sa.Index(
    "gw_messages_envelope",
    _m.sender_ean,
    _m.envelope_id,
    unique=True,
    sqlite_where=_m.resend_of_id.is_(None),
    postgresql_where=_m.resend_of_id.is_(None),
)
for _name, _prefix in {
    "gw_messages_created": (),
    "gw_messages_state_created": ("state",),
    "gw_messages_envelope_created": ("envelope_id",),
    "gw_messages_sender_created": ("sender_ean",),
    "gw_messages_receiver_created": ("receiver_ean",),
    "gw_messages_sender_state_created": ("sender_ean", "state"),
    "gw_messages_receiver_state_created": ("receiver_ean", "state"),
}.items():
    sa.Index(_name, *(_m[c] for c in _prefix), _m.created_at, _m.id)
for _name, _where, _columns in (
    (
        "gw_messages_awaiting_receipt",
        "(state || '') = 'delivered' AND ack_requested AND receipt_id IS NULL",
        (_m.delivered_at,),
    ),
    ("gw_messages_overdue_unalerted", "(state || '') = 'ack_overdue' AND ack_alerted_at IS NULL", (_m.delivered_at,)),
    (
        "gw_messages_pending_routes",
        "(delivery_state || '') = 'pending'",
        (_m.receiver_ean, _m.sender_ean, _m.type, _m.created_at),
    ),
    ("gw_messages_body_kept", "length(body) > 0", (_m.updated_at, _m.id)),
):
    sa.Index(_name, *_columns, sqlite_where=sa.text(_where), postgresql_where=sa.text(_where))

gw_letters = sa.Table(
    "gw_letters",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("letter_id", sa.String(64), nullable=False),
    sa.Column("sender_ean", sa.String(13), nullable=False),
    sa.Column("version_code", sa.String(16)),
    sa.Column("status_code", sa.String(16)),
    sa.Column("receipt_state", sa.String(16)),
    sa.Column("refuse_code", sa.String(32)),
    sa.Column("refuse_text", sa.Text),
    sa.Column("receipt_at", Time),
)
sa.Index("gw_letters_message", gw_letters.c.message_id)
sa.Index("gw_letters_sender_letter", gw_letters.c.letter_id, gw_letters.c.sender_ean)

gw_message_events = sa.Table(
    "gw_message_events",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.BigInteger, nullable=False),
    sa.Column("at", Time, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text),
)
sa.Index("gw_events_message", gw_message_events.c.message_id, gw_message_events.c.id)

gw_delivery_queues = sa.Table(
    "gw_delivery_queues",
    metadata,
    sa.Column("receiver_ean", sa.String(13), primary_key=True),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_until", Time),
)

# ------------------------------------------------------------------------------------------------ notify

notify_incidents = sa.Table(
    "notify_incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("reporting_organisation", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("reported_by", sa.String(200), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("cause", sa.Text, nullable=False),
    sa.Column("affected_messages", sa.Text, nullable=False),
    sa.Column("affected_organisations", sa.Text, nullable=False),
    sa.Column("start", IsoText, nullable=False),
    sa.Column("expected_end", IsoText, nullable=False),
    sa.Column("reported_at", IsoText, nullable=False),
    sa.Column("contact_name", sa.String(200), nullable=False),
    sa.Column("contact_phone", sa.String(64), nullable=False),
    sa.Column("contact_email", sa.String(254), nullable=False),
    sa.Column("resolved_at", IsoText),
    sa.Column("last_update_at", IsoText),
    sa.Column("last_reminder_at", IsoText),
    sa.Column("settled", sa.Boolean, nullable=False),
)
sa.Index("ix_notify_incidents_reported_at", notify_incidents.c.reported_at)

notify_updates = sa.Table(
    "notify_updates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("notify_incidents.id"), nullable=False, index=True),
    sa.Column("at", IsoText, nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("expected_end", IsoText),
)

notify_notices = sa.Table(
    "notify_notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, sa.ForeignKey("notify_incidents.id"), index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", IsoText, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("next_status_at", IsoText),
)

notify_outbox = sa.Table(
    "notify_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("notice_id", sa.Integer, sa.ForeignKey("notify_notices.id"), nullable=False, index=True),
    sa.Column("incident_id", sa.Integer, index=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("subscription_id", sa.Integer),
    sa.Column("message_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", IsoText, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("sent_at", IsoText),
    sa.Column("lease_until", IsoText),
    sa.Column("leased_by", sa.String(200)),
)
sa.Index("ix_notify_outbox_due", notify_outbox.c.status, notify_outbox.c.next_attempt_at)

notify_subscriptions = sa.Table(
    "notify_subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("organisations", sa.Text, nullable=False),
    sa.Column("clusters", sa.Text, nullable=False),
    sa.Column("message_types", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("confirm_token", sa.String(64), nullable=False, unique=True),
    sa.Column("unsubscribe_token", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", IsoText, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("confirmed_at", IsoText),
    sa.Column("removed_at", IsoText),
)

notify_audit = sa.Table(
    "notify_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", IsoText, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("incident_id", sa.Integer, index=True),
    sa.Column("subscription_id", sa.Integer, index=True),
)

notify_directory = sa.Table(
    "notify_directory",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", IsoText, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
)

notify_portal_tasks = sa.Table(
    "notify_portal_tasks",
    metadata,
    sa.Column("incident_id", sa.Integer, primary_key=True),
    sa.Column("requested_at", IsoText, nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("done_at", IsoText),
    sa.Column("done_by", sa.String(200)),
)

notify_login_sessions = sa.Table(
    "notify_login_sessions",
    metadata,
    sa.Column("sid", sa.String(64), primary_key=True),
    sa.Column("expires_at", IsoText, nullable=False),
)

# the two indexes that the gateway's landed step 2 replaced by the listing indexes above
_REPLACED_INDEXES = ("gw_messages_state", "gw_messages_envelope_id")


def is_landed(conn: Connection) -> bool:
    """A database made before the Alembic history: it has `schema_migrations` and no Alembic version."""
    tables = set(sa.inspect(conn).get_table_names())
    return LEGACY_TABLE in tables and "alembic_version" not in tables


def complete_landed(conn: Connection) -> None:
    """Bring a database at any landed step to the landed schema, then drop `schema_migrations`.

    The landed steps only ever created tables and indexes, added nullable columns, widened a VARCHAR
    (PostgreSQL enforces lengths) and dropped the two replaced indexes, so that is all there is to finish."""
    metadata.create_all(conn)  # the tables of a component that never ran (with their indexes)
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"]: c for c in inspector.get_columns(table.name)}
        for column in table.columns:
            ddl = column.type.compile(dialect=conn.dialect)
            if column.name not in have:  # gateway step 3 (format), notify step 2 (the outbox lease)
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {ddl}"))
            elif conn.dialect.name == "postgresql" and isinstance(column.type, sa.String):
                length = getattr(have[column.name]["type"], "length", None)
                if length is not None and column.type.length is not None and length < column.type.length:
                    # gateway step 3 (type), notify step 3 (kind)
                    conn.execute(sa.text(f"ALTER TABLE {table.name} ALTER COLUMN {column.name} TYPE {ddl}"))
        for index in table.indexes:  # gateway step 2
            index.create(conn, checkfirst=True)
    for name in _REPLACED_INDEXES:
        conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    conn.execute(sa.text(f"DROP TABLE {LEGACY_TABLE}"))
