"""A store filled with what retention has to empty: final-state messages last changed long ago, bodies kept.

Written straight into the `messages` table (one multi-row INSERT per chunk) so a test can fill thousands of
rows in a second, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.schema import messages
from tests.harness.message_rows import message_row
from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY

#: rows per INSERT: PostgreSQL allows 32767 bind parameters per statement, a row has 15
CHUNK = 2000


async def fill_old(db: Database, count: int, body: bytes, *, days_ago: int = 60) -> None:
    """`count` acknowledged, delivered XDIS91 messages OLD0 … OLD<count-1>, last changed `days_ago` days
    ago, each with `body` kept."""
    old = datetime.now(UTC) - timedelta(days=days_ago)
    async with db.engine.begin() as conn:
        for start in range(0, count, CHUNK):
            chunk = range(start, min(start + CHUNK, count))
            await conn.execute(
                sa.insert(messages),
                [
                    message_row(
                        f"OLD{i}",
                        HOSPITAL,
                        MUNICIPALITY,
                        old,
                        state="acknowledged",
                        attempts=1,
                        body=body,
                        delivered_at=old,
                    )
                    for i in chunk
                ],
            )
