"""One time type: notify's times become the gateway's UtcDateTime, with the data converted in place.

Before: 'YYYY-MM-DDTHH:MM:SS.ffffff+00:00' text in VARCHAR(40). After: naive UTC in TIMESTAMP (PostgreSQL) or the
'YYYY-MM-DD HH:MM:SS.ffffff' text of SQLAlchemy's DATETIME (SQLite), as every gw_* time. PostgreSQL converts each
column with ALTER ... USING. SQLite cannot change a column's type, so each table is rebuilt (SQLite's own
procedure: new table, copy, drop, rename, indexes), with foreign keys off (Database.migrate) and checked after.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import CreateTable

from edigate.migrations import landed

revision = "0002"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

TIME_COLUMNS: dict[str, tuple[str, ...]] = {
    "notify_incidents": ("start", "expected_end", "reported_at", "resolved_at", "last_update_at", "last_reminder_at"),
    "notify_updates": ("at", "expected_end"),
    "notify_notices": ("created_at", "next_status_at"),
    "notify_outbox": ("next_attempt_at", "sent_at", "lease_until"),
    "notify_subscriptions": ("created_at", "confirmed_at", "removed_at"),
    "notify_audit": ("at",),
    "notify_directory": ("updated_at",),
    "notify_portal_tasks": ("requested_at", "done_at"),
    "notify_login_sessions": ("expires_at",),
}

# exactly what the landed notify store wrote: datetime.astimezone(UTC).isoformat(timespec="microseconds")
_D = "[0-9]"
LANDED_TIME_GLOB = f"{_D * 4}-{_D * 2}-{_D * 2}T{_D * 2}:{_D * 2}:{_D * 2}.{_D * 6}+00:00"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        for table, columns in TIME_COLUMNS.items():
            for column in columns:
                op.alter_column(
                    table,
                    column,
                    type_=sa.DateTime(),
                    existing_type=landed.IsoText,
                    postgresql_using=f"(\"{column}\"::timestamptz AT TIME ZONE 'UTC')",
                )
        return
    _check_landed_times(conn)
    targets = sa.MetaData()
    for name in TIME_COLUMNS:
        target = landed.metadata.tables[name].to_metadata(targets)
        for column in TIME_COLUMNS[name]:
            target.c[column].type = sa.DateTime()
    for name, columns in TIME_COLUMNS.items():
        _rebuild_sqlite(conn, targets.tables[name], columns)
    problems = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if problems:
        raise RuntimeError(f"revision 0002: foreign keys broken after the rebuild: {problems[:5]}")


def _check_landed_times(conn: sa.Connection) -> None:
    """Refuse (and roll everything back) if a time is not in the shape the landed version wrote."""
    for table, columns in TIME_COLUMNS.items():
        for column in columns:
            bad = conn.exec_driver_sql(
                f'SELECT count(*) FROM {table} WHERE "{column}" IS NOT NULL AND "{column}" NOT GLOB ?',
                (LANDED_TIME_GLOB,),
            ).scalar_one()
            if bad:
                raise RuntimeError(f"revision 0002: {bad} value(s) of {table}.{column} are not landed UTC times")


def _rebuild_sqlite(conn: sa.Connection, target: sa.Table, times: tuple[str, ...]) -> None:
    name = target.name
    new = target.to_metadata(target.metadata, name=f"_new_{name}")
    conn.execute(CreateTable(new))  # indexes come after the rename, under their own names
    names = [c.name for c in target.columns]
    values = [f'substr("{c}", 1, 10) || \' \' || substr("{c}", 12, 15)' if c in times else f'"{c}"' for c in names]
    columns = ", ".join(f'"{c}"' for c in names)
    conn.exec_driver_sql(f"INSERT INTO {new.name} ({columns}) SELECT {', '.join(values)} FROM {name}")
    conn.exec_driver_sql(f"DROP TABLE {name}")
    conn.exec_driver_sql(f"ALTER TABLE {new.name} RENAME TO {name}")
    for index in target.indexes:
        index.create(conn)


def downgrade() -> None:
    raise NotImplementedError("no down-migrations: restore the backup taken before the upgrade")
