"""The generic-plan tests' shared parts (issue 14): a store shaped like the scale benchmark's, the statements
the store really sends captured from its calls, and their plans under both of PostgreSQL's plan modes.

asyncpg prepares each statement; after five executions PostgreSQL may plan it once for unknown parameter
values (the generic plan) and keep that. A plan test therefore captures what a call sends, prepares it on
an analysed table with the benchmark's proportions and explains it with ``force_custom_plan`` and
``force_generic_plan``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.schema import messages
from tests.harness.message_rows import message_row
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

OTHER_EAN = "5790000123454"  # asked about, has no messages at all
AT = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ROWS = 40_000  # the planner prices a walk of the table against a range only on a real table

#: (tag, plan mode, plan lines) of a (tag, statement): what :func:`explained` returns per statement
Plan = tuple[tuple[Any, str], str, list[str]]


def scale_shaped_rows() -> list[dict[str, Any]]:
    """Like bench/scale_store.py's fill: originals hospital -> municipality, 45 % delivered and
    acknowledged, 10 % waiting; their receipts municipality -> hospital, 45 %, all queued, none delivered."""
    out: list[dict[str, Any]] = []
    for i in range(ROWS):
        at = AT - timedelta(seconds=60 * ROWS - 60 * i)  # a month, oldest first (ids follow time)
        kind = i % 20
        receipt = kind >= 11
        waiting = receipt or kind >= 9
        out.append(
            message_row(
                f"E{i}",
                MUNICIPALITY_EAN if receipt else HOSPITAL_EAN,
                HOSPITAL_EAN if receipt else MUNICIPALITY_EAN,
                at,
                type="XCTL03" if receipt else "XDIS91",
                receipt=receipt,
                state="accepted" if waiting else "acknowledged",
                delivery_state="pending" if waiting else "delivered",
                delivered_at=None if waiting else at,
                receipt_at=None if waiting else at + timedelta(seconds=30),
            )
        )
    return out


async def fill_scale_shaped(db: Database) -> None:
    """The scale-shaped rows in gw_messages, then ANALYZE: the planner sees the benchmark's proportions."""
    data = scale_shaped_rows()
    async with db.engine.begin() as conn:
        for start in range(0, ROWS, 10_000):
            await conn.execute(sa.insert(messages), data[start : start + 10_000])
        await conn.exec_driver_sql("ANALYZE gw_messages")


@asynccontextmanager
async def scale_shaped_store(url: str, *, started: bool = True) -> AsyncIterator[tuple[Database, MessageStore]]:
    """A migrated store filled with :func:`scale_shaped_rows`, its clock a minute after the newest row;
    ``started``: the store's own start (its writer and warm-up) rather than the migration alone."""
    db = Database.open(url)
    store = MessageStore(db, lambda: AT + timedelta(minutes=1))
    try:
        if started:
            await store.start()
        else:
            await db.migrate()
        await fill_scale_shaped(db)
        yield db, store
    finally:
        if started:
            await store.stop()
        await db.close()


@dataclass
class Captured:
    """The (tag, statement, parameters) an engine sent while captured; set ``what`` to tag what follows."""

    what: Any = ""
    sent: list[tuple[Any, str, Any]] = field(default_factory=list)

    def once_each(self) -> list[tuple[Any, str, Any]]:
        """Each (tag, statement) once, with its first parameters (batches repeat the same SQL)."""
        first: dict[tuple[Any, str], tuple[Any, str, Any]] = {}
        for what, statement, parameters in self.sent:
            first.setdefault((what, statement), (what, statement, parameters))
        return list(first.values())


@contextmanager
def captured_statements(db: Database, keep: Callable[[str], bool] = lambda _: True) -> Iterator[Captured]:
    """Capture what `db`'s engine sends (the statements ``keep`` accepts) until the block ends."""
    captured = Captured()

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if keep(statement):
            captured.sent.append((captured.what, statement, parameters))

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", capture)


def literal(value: Any) -> str:
    """A parameter as SQL text for EXECUTE (the store's parameters: EANs, states, ints, naive UTC times)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "NULL"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ")
    return "'" + str(value).replace("'", "''") + "'"


async def explained(url: str, sent: list[tuple[Any, str, Any]]) -> list[Plan]:
    """((tag, statement), plan mode, plan lines) of each (tag, statement, parameters), custom and generic."""
    plans = []
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(f"SET plan_cache_mode = {mode}")
            for what, statement, parameters in sent:
                prepared = await conn.prepare(statement)
                args = f"({', '.join(literal(p) for p in parameters)})" if parameters else ""  # none: no ()
                rows = await conn.fetch(f"EXPLAIN EXECUTE {prepared.get_name()}{args}")
                plans.append(((what, statement), mode, [str(r[0]) for r in rows]))
    finally:
        await conn.close()
    return plans


def index_read_problems(plan: list[str]) -> list[str]:
    """What makes a plan more than index ranges: a sequential scan, or a read of a gw_ table without an index
    condition (a walk of an index filtering rows)."""
    text = "\n".join(plan)
    reads = [line for line in plan if " Scan " in line and " on gw_" in line]
    conds = [line for line in plan if "Index Cond:" in line or "Recheck Cond:" in line]
    found = ["Seq Scan"] if "Seq Scan" in text else []
    if not reads or len(conds) < len(reads):
        found.append(f"{len(reads)} reads of a table, {len(conds)} with an index condition")
    return found


def shown(what: Any, mode: str, found: list[str], statement: str, plan: list[str], width: int = 300) -> str:
    """One problem of a plan test, readable: what, under which mode, the statement and its plan."""
    return f"{what}, {mode}: {found} in\n  {' '.join(statement.split())[:width]}\n  " + "\n  ".join(plan)
