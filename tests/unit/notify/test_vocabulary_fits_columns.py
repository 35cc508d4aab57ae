"""Every value of a stored vocabulary (kinds, states, roles, channels, codes) fits its VARCHAR column.

SQLite ignores a VARCHAR's length, PostgreSQL refuses a longer value: a new value that is too long passes the
SQLite tests and is a 500 in production on PostgreSQL. This catches it without a database.
"""

from __future__ import annotations

from typing import Any, get_args, get_type_hints

import pytest
import sqlalchemy as sa

from edigate.medcom.model import REFUSE_CODES
from edigate.store import notify_store, schema
from edigate.store.model import STATES
from notify.model import KINDS, ROLES, Channel, NoticeKind, OutboxStatus, State, Subscription

VOCABULARIES: list[tuple[sa.Column[Any], tuple[str, ...]]] = [
    (notify_store.notices.c.kind, get_args(NoticeKind)),
    (notify_store.incidents.c.kind, KINDS),
    (notify_store.incidents.c.state, get_args(State)),
    (notify_store.incidents.c.role, ROLES),
    (notify_store.incidents.c.source, ("form", "api", "monitor")),
    (notify_store.outbox.c.channel, get_args(Channel)),
    (notify_store.outbox.c.status, get_args(OutboxStatus)),
    (notify_store.subscriptions.c.state, get_args(get_type_hints(Subscription)["state"])),
    (schema.messages.c.state, STATES),
    (schema.messages.c.delivery_state, ("pending", "delivered", "failed", "none")),
    (schema.messages.c.refuse_code, REFUSE_CODES),
    (schema.letters.c.refuse_code, REFUSE_CODES),
    (schema.letters.c.receipt_state, ("acknowledged", "refused")),
]


@pytest.mark.parametrize(("column", "values"), VOCABULARIES, ids=lambda v: str(v) if isinstance(v, sa.Column) else "")
def test_every_value_fits_its_column(column: sa.Column[Any], values: tuple[str, ...]) -> None:
    width = column.type.length  # type: ignore[attr-defined]
    assert values, column
    too_long = [v for v in values if len(v) > width]
    assert not too_long, f"{column} is VARCHAR({width}): {too_long} do not fit on PostgreSQL"
