"""The landed schema: every table as commit 60024f2 left them (edigate.migrations.landed).

A new database gets them here. A database made by that version is completed by `landed.complete_landed` and
stamped at this revision instead, so both continue from the same point.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from alembic import op

from edigate.migrations.landed import metadata

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("no down-migrations: restore the backup taken before the upgrade")
