"""A store filled with what retention has to empty: final-state messages last changed long ago, bodies kept.

Written straight into the `messages` table (one multi-row INSERT per chunk) so a test can fill thousands of
rows in a second, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.schema import messages
from tests.unit.gateway.envelopes import HOSPITAL, MUNICIPALITY

#: rows per INSERT: PostgreSQL allows 32767 bind parameters per statement, a row has 15
CHUNK = 2000


async def fill_old(db: Database, count: int, body: bytes, *, days_ago: int = 60) -> None:
    """`count` acknowledged, delivered XDIS91 messages OLD0 … OLD<count-1>, last changed `days_ago` days
    ago, each with `body` kept."""
    old = datetime.now(UTC) - timedelta(days=days_ago)
    row = {
        "sender_ean": HOSPITAL,
        "receiver_ean": MUNICIPALITY,
        "type": "XDIS91",
        "ack_requested": True,
        "is_receipt": False,
        "generated": False,
        "state": "acknowledged",
        "delivery_state": "delivered",
        "body": body,
        "body_size": len(body),
        "created_at": old,
        "updated_at": old,
        "delivered_at": old,
        "attempts": 1,
    }
    async with db.engine.begin() as conn:
        for start in range(0, count, CHUNK):
            chunk = range(start, min(start + CHUNK, count))
            await conn.execute(sa.insert(messages), [{**row, "envelope_id": f"OLD{i}"} for i in chunk])
