"""Alembic's environment: run by `edigate.migrations.upgrade` with an open connection (the normal case), or by
the `alembic` command line for a developer (`-x url=sqlite:///path`), e.g. to autogenerate a new revision."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from edigate.migrations.target import target_metadata

connection = context.config.attributes.get("connection")
if connection is not None:
    # at start: only running the revisions, so the code's tables (for autogenerate) are not needed
    context.configure(connection=connection, transactional_ddl=True)
    context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///path/to/edigate.db …")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata(), transactional_ddl=True)
        context.run_migrations()
