"""The database's schema history: Alembic revisions in `versions/`, one ordered line for every table.

`upgrade` runs inside the caller's transaction (Database.migrate takes the lock around it). A database made
before this history (by commit 60024f2 or earlier, recorded in `schema_migrations`) is completed to the landed
schema and stamped at revision 0001 first (edigate.migrations.landed), then upgraded like any other.
No alembic.ini is needed at run time: the configuration is built here.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from edigate.migrations.landed import complete_landed, is_landed

HERE = Path(__file__).resolve().parent
LANDED_REVISION = "0001"


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision (the history is one line: exactly one head)."""
    heads = ScriptDirectory.from_config(config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history must have one head, it has {sorted(heads)}")
    return heads[0]


def upgrade(connection: Connection) -> None:
    """Bring the database on `connection` to the newest revision, in the transaction already open on it."""
    cfg = config(connection)
    if is_landed(connection):
        complete_landed(connection)
        command.stamp(cfg, LANDED_REVISION)
    command.upgrade(cfg, "head")
