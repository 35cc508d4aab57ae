"""PostgreSQL statistics on the listings' column pairs: (receiver_ean, state) and (sender_ean, state).

A partner's page is one range per EAN and side with its state filter. PostgreSQL estimates such a pair as if
the columns were independent; they are not (a hospital receives receipts, which are never 'acknowledged'), and
at 3 M stored messages it estimated 611,000 rows where there were none, walked `gw_messages_created` backwards
filtering every row, and took 4.6 s instead of 0.1 ms (issue 14, bench/results/scale-sizes.md). The pairs'
most-common-value lists give it the real share. SQLite plans without statistics: nothing to do there.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

STATISTICS = {
    "gw_messages_receiver_state_stats": ("receiver_ean", "state"),
    "gw_messages_sender_state_stats": ("sender_ean", "state"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, columns in STATISTICS.items():
        op.execute(f"CREATE STATISTICS IF NOT EXISTS {name} (mcv) ON {', '.join(columns)} FROM gw_messages")
    op.execute("ANALYZE gw_messages")  # so that a store upgraded under load plans with them at once


def downgrade() -> None:
    raise NotImplementedError("no down-migrations: restore the backup taken before the upgrade")
