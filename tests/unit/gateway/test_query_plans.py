"""Query plans of the listings and sweeps (issue 14): every documented filter of GET /api/v1/messages,
their combinations and the keyset cursor ride an index, in the order the page is read; the receipt sweep
and the retention pass read a partial index. A change that loses an index fails here, on SQLite
(EXPLAIN QUERY PLAN, the exact index of each filter) and on PostgreSQL (EXPLAIN on an analysed table,
sequential scans, bitmaps and sorts priced out so that a small test table does not hide a missing index)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from edigate.store.db import Database
from edigate.store.health_queries import (
    batched,
    first_failure_statement,
    first_pending_statement,
    head_statement,
    last_delivered_statement,
    pending_count_statement,
    recent_outcomes_statement,
)
from edigate.store.messages import SearchFilter, alert_update, overdue_update, search_statement
from edigate.store.retention import candidates, due_count
from edigate.store.schema import messages
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

OTHER_EAN = "5790000123454"
AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ME = frozenset({HOSPITAL_EAN})
TWO = frozenset({HOSPITAL_EAN, OTHER_EAN})

CREATED = "gw_messages_created"
STATE = "gw_messages_state_created"
ENVELOPE = "gw_messages_envelope_created"
SENDER = "gw_messages_sender_created"
RECEIVER = "gw_messages_receiver_created"
SENDER_STATE = "gw_messages_sender_state_created"
RECEIVER_STATE = "gw_messages_receiver_state_created"

LISTING_INDEXES = {CREATED, STATE, ENVELOPE, SENDER, RECEIVER, SENDER_STATE, RECEIVER_STATE}

# (name, filter, the indexes the page may read): every documented filter, the combinations a user makes,
# the cursor, and a partner's scope (one range per EAN and side)
FILTERS: list[tuple[str, SearchFilter, set[str]]] = [
    ("none", SearchFilter(), {CREATED}),
    ("state", SearchFilter(state="acknowledged"), {STATE}),
    ("since", SearchFilter(since=AT), {CREATED}),
    ("envelope_id", SearchFilter(envelope_id="ENV1"), {ENVELOPE}),
    ("sender", SearchFilter(sender=HOSPITAL_EAN), {SENDER}),
    ("receiver", SearchFilter(receiver=MUNICIPALITY_EAN), {RECEIVER}),
    ("sender+state", SearchFilter(sender=HOSPITAL_EAN, state="failed"), {SENDER_STATE}),
    ("receiver+state", SearchFilter(receiver=MUNICIPALITY_EAN, state="delivered"), {RECEIVER_STATE}),
    ("sender+receiver", SearchFilter(sender=HOSPITAL_EAN, receiver=MUNICIPALITY_EAN), {SENDER, RECEIVER}),
    (
        "sender+receiver+state",
        SearchFilter(sender=HOSPITAL_EAN, receiver=MUNICIPALITY_EAN, state="failed"),
        {SENDER_STATE, RECEIVER_STATE},
    ),
    ("state+since", SearchFilter(state="refused", since=AT), {STATE}),
    ("receiver+since", SearchFilter(receiver=MUNICIPALITY_EAN, since=AT), {RECEIVER}),
    ("envelope_id+sender", SearchFilter(envelope_id="ENV1", sender=HOSPITAL_EAN), {ENVELOPE}),
    ("cursor", SearchFilter(after=(AT, 1000)), {CREATED}),
    ("state+cursor", SearchFilter(state="acknowledged", after=(AT, 1000)), {STATE}),
    (
        "receiver+state+since+cursor",
        SearchFilter(receiver=MUNICIPALITY_EAN, state="failed", since=AT, after=(AT, 9)),
        {RECEIVER_STATE},
    ),
    ("own", SearchFilter(visible_to=ME), {SENDER, RECEIVER}),
    ("own+state", SearchFilter(visible_to=ME, state="acknowledged"), {SENDER_STATE, RECEIVER_STATE}),
    ("own+since", SearchFilter(visible_to=ME, since=AT), {SENDER, RECEIVER}),
    ("own+receiver", SearchFilter(visible_to=ME, receiver=MUNICIPALITY_EAN), {SENDER, RECEIVER}),
    ("own+envelope_id", SearchFilter(visible_to=ME, envelope_id="ENV1"), {ENVELOPE}),
    (
        "own two EANs+state+cursor",
        SearchFilter(visible_to=TWO, state="delivered", after=(AT, 50)),
        {SENDER_STATE, RECEIVER_STATE},
    ),
]


STATES = ("accepted", "delivered", "acknowledged", "refused", "failed", "rejected", "ack_overdue")


def spread_rows(n: int = 4000) -> list[dict[str, Any]]:
    """Rows spread over 40 EANs and the states, so that PostgreSQL's statistics tell its indexes apart."""
    eans = [f"57900000{i:05d}" for i in range(40)] + [HOSPITAL_EAN, MUNICIPALITY_EAN, OTHER_EAN]
    rows = []
    for i in range(n):
        at = AT + timedelta(minutes=i - n // 2)
        rows.append(
            {
                "envelope_id": f"ENV{i}",
                "sender_ean": eans[i % len(eans)],
                "receiver_ean": eans[(i * 7 + 3) % len(eans)],
                "type": "XDIS91",
                "ack_requested": i % 2 == 0,
                "is_receipt": False,
                "generated": False,
                "state": STATES[i % len(STATES)],
                "delivery_state": "delivered",
                "body": b"x",
                "body_size": 1,
                "created_at": at,
                "updated_at": at,
                "delivered_at": at,
                "attempts": 1,
            }
        )
    return rows


def explain_all(url: str, statements: list[Any]) -> list[list[str]]:
    """The plan lines of each statement on a migrated store at `url` holding spread_rows() (PostgreSQL:
    analysed; SQLite: no statistics, as in the service, which never runs ANALYZE)."""

    async def run() -> list[list[str]]:
        db = Database.open(url)
        try:
            await db.migrate()
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(messages), spread_rows())
                if db.dialect == "postgresql":
                    await conn.exec_driver_sql("ANALYZE gw_messages")
            plans = []
            async with db.engine.connect() as conn:
                if db.dialect == "postgresql":
                    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                        await conn.exec_driver_sql(f"SET {setting} = off")
                for stmt in statements:
                    sql = stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
                    if db.dialect == "sqlite":
                        plans.append([str(r[-1]) for r in await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")])
                    else:
                        plans.append([str(r[0]) for r in await conn.exec_driver_sql(f"EXPLAIN {sql}")])
            return plans
        finally:
            await db.close()

    return asyncio.run(run())


def listing_problem(dialect: str, f: SearchFilter, indexes: set[str], plan: list[str]) -> str | None:
    """Why this plan does not read one index range in page order; None when it does."""
    text = "\n".join(plan)
    scoped = f.visible_to is not None
    if dialect == "sqlite":
        table_reads = [line for line in plan if line.startswith(("SCAN", "SEARCH")) and "gw_messages" in line]
        if not table_reads:
            return "no read of gw_messages"
        for line in table_reads:  # never a whole-table scan: each read is a range of one of `indexes`
            used = line.split(" INDEX ", 1)[1].split()[0] if " INDEX " in line else None
            if used not in indexes:
                return f"reads {used or 'the table'}, expected one of {sorted(indexes)}"
        if not scoped and "USE TEMP B-TREE FOR ORDER BY" in text:
            return "sorts what matched instead of reading in index order"
        return None
    if "Seq Scan" in text or "Bitmap" in text:
        return "a sequential or bitmap scan"
    # PostgreSQL picks among the listing indexes by its statistics (on this table: sometimes the
    # created_at index with a filter for a common state); any of them reads in page order and stops at
    # the limit. Which one is pinned on SQLite, whose planner has no statistics.
    indexes = {line.split(" using ", 1)[1].split()[0] for line in plan if " using " in line}
    if not indexes or not indexes <= LISTING_INDEXES:
        return f"reads {sorted(indexes)}, not only listing indexes"
    if not scoped and "Sort" in text:
        return "sorts what matched instead of reading in index order"
    return None


def test_every_listing_rides_an_index_in_page_order(storage_url: str) -> None:
    dialect = "sqlite" if storage_url.startswith("sqlite") else "postgresql"
    plans = explain_all(storage_url, [search_statement(f) for _, f, _ in FILTERS])
    problems = []
    for (name, f, indexes), plan in zip(FILTERS, plans, strict=True):
        problem = listing_problem(dialect, f, indexes, plan)
        if problem:
            problems.append(f"{name}: {problem}\n  " + "\n  ".join(plan))
    assert not problems, "\n".join(problems)


# (name, statement, the partial index it must read)
SWEEPS: list[tuple[str, Any, str]] = [
    ("receipt overdue", overdue_update(AT, AT), "gw_messages_awaiting_receipt"),
    ("receipt alert", alert_update(AT, AT), "gw_messages_overdue_unalerted"),
    ("retention, first batch", candidates(AT, None, 200), "gw_messages_updated"),
    ("retention, from the watermark", candidates(AT, (AT - timedelta(days=40), 77), 200), "gw_messages_updated"),
    ("retention, dry run", due_count(AT, (AT - timedelta(days=40), 77)), "gw_messages_updated"),
]


def test_sweeps_read_only_what_can_have_changed(storage_url: str) -> None:
    """The receipt sweep and the retention pass read a partial index (messages still waiting for a
    receipt; bodies still kept) by their deadline: their cost follows what is due, not what is stored.
    The health tick's queue aggregate reads only the pending rows' index, never the table."""
    dialect = "sqlite" if storage_url.startswith("sqlite") else "postgresql"
    plans = explain_all(storage_url, [stmt for _, stmt, _ in SWEEPS])
    problems = []
    for (name, _, index), plan in zip(SWEEPS, plans, strict=True):
        text = "\n".join(plan)
        if dialect == "sqlite":
            reads = [line for line in plan if line.startswith(("SCAN", "SEARCH")) and "gw_messages" in line]
            ok = reads and all(f" INDEX {index}" in line for line in reads)
            ok = ok and ("TEMP B-TREE FOR ORDER BY" not in text) and ("pending" not in name or "COVERING" in text)
        else:
            ok = f" using {index} " in text and "Seq Scan" not in text and "Bitmap" not in text
        if not ok:
            problems.append(f"{name}: expected a read of {index}\n  " + "\n  ".join(plan))
    assert not problems, "\n".join(problems)


# The health tick's reads of the queues (issue 14): each a seek or a bounded range of an index, batched
# for every receiver into one compound statement (one round trip per round, whatever the number of
# partners), so a dead receiver's queue of 140 k costs what an empty one does. PostgreSQL reads the
# pending rows' index alone; SQLite 3.40 also visits each row a range holds (to test the index's own
# WHERE, an expression), which is why the count is bounded.
PENDING_ROUTES = "gw_messages_pending_routes"
QUEUE = "gw_messages_queue"
TICK: list[tuple[str, Any, str]] = [
    (
        "first routes of every receiver, then the next type or route",
        batched(
            [
                first_pending_statement(MUNICIPALITY_EAN),
                first_pending_statement(OTHER_EAN),
                first_pending_statement(MUNICIPALITY_EAN, HOSPITAL_EAN, "XDIS91"),
                first_pending_statement(MUNICIPALITY_EAN, HOSPITAL_EAN),
            ]
        )[0],
        PENDING_ROUTES,
    ),
    (
        "bounded counts",
        batched(
            [
                pending_count_statement(MUNICIPALITY_EAN, HOSPITAL_EAN, "XDIS91"),
                pending_count_statement(OTHER_EAN, HOSPITAL_EAN, "XDIS20"),
            ]
        )[0],
        PENDING_ROUTES,
    ),
    ("the heads of the queues", batched([head_statement(MUNICIPALITY_EAN), head_statement(OTHER_EAN)])[0], QUEUE),
    (
        "each receiver's last delivery",
        batched([last_delivered_statement(MUNICIPALITY_EAN), last_delivered_statement(OTHER_EAN)])[0],
        QUEUE,
    ),
]


def test_the_health_tick_seeks_indexes_in_one_round_trip(storage_url: str) -> None:
    """Every queue read of the tick is a seek or a bounded range of an index (the pending rows': on
    PostgreSQL index only), in the index's order (no sort), all receivers in one statement: its cost
    follows the number of routes, not the number of waiting messages."""
    dialect = "sqlite" if storage_url.startswith("sqlite") else "postgresql"
    plans = explain_all(storage_url, [stmt for _, stmt, _ in TICK])
    problems = []
    for (name, _, index), plan in zip(TICK, plans, strict=True):
        text = "\n".join(plan)
        if dialect == "sqlite":
            reads = [line for line in plan if line.startswith(("SCAN", "SEARCH")) and "gw_messages" in line]
            # the queue seeks start at a row-value bound: "the first entry at or after (receiver, state)"
            seek = (
                f"INDEX {index} ((receiver_ean,delivery_state)" if index == QUEUE else f"INDEX {index} (receiver_ean=?"
            )
            ok = len(reads) >= 2 and all(line.startswith("SEARCH") and seek in line for line in reads)
            ok = ok and "TEMP B-TREE" not in text
        else:
            # never the primary key walked to the first match (3 M rows for a receiver with no delivery:
            # test_health_tick_generic_plans.py shows it on a table shaped like the scale benchmark's)
            scan = "Index Only Scan" if index == PENDING_ROUTES else "Index Scan"
            ok = f"{scan} using {index} " in text or f"{scan} Backward using {index} " in text
            ok = ok and not any(w in text for w in ("Seq Scan", "Bitmap", "Sort", "gw_messages_pkey"))
        if not ok:
            problems.append(f"{name}: expected seeks of {index}\n  " + "\n  ".join(plan))
    assert not problems, "\n".join(problems)


def test_the_health_tick_reads_recent_outcomes_by_index_ranges(storage_url: str) -> None:
    """The tick's one statement of recent outcomes (receipts overdue, answered, delivered, dead letters,
    the dead-letter streak and the newest id, UNION ALL) reads an index range in each part, never the
    table; and its first round of seeks mixes kinds (group, head, last delivery, first failure, count) in
    one statement, each part still a seek of its own index."""
    dialect = "sqlite" if storage_url.startswith("sqlite") else "postgresql"
    receivers = [MUNICIPALITY_EAN, OTHER_EAN, HOSPITAL_EAN]
    outcomes = recent_outcomes_statement(
        receivers, AT - timedelta(hours=1), AT - timedelta(hours=24), AT + timedelta(hours=1)
    )
    mixed = batched(
        [
            first_pending_statement(MUNICIPALITY_EAN),
            head_statement(MUNICIPALITY_EAN),
            last_delivered_statement(OTHER_EAN),
            first_failure_statement(77),
            pending_count_statement(MUNICIPALITY_EAN, HOSPITAL_EAN, "XDIS91"),
        ]
    )[0]
    plans = explain_all(storage_url, [outcomes, mixed])
    problems = []
    for name, plan, parts in (("recent outcomes", plans[0], 6), ("mixed seeks", plans[1], 5)):
        text = "\n".join(plan)
        if dialect == "sqlite":
            reads = [line for line in plan if line.startswith(("SCAN", "SEARCH")) and " gw_me" in line]
            # the newest id is max(rowid): SQLite's seek of the table's own b-tree end, "SEARCH gw_messages"
            ok = len(reads) == parts and all(
                line.startswith("SEARCH") and (" USING " in line or line.strip() == "SEARCH gw_messages")
                for line in reads
            )
        else:
            reads = [line for line in plan if " Scan " in line and " on gw_me" in line]
            ok = len(reads) == parts and "Seq Scan" not in text and "Bitmap" not in text
        if not ok:
            problems.append(f"{name}: expected {parts} index reads\n  " + "\n  ".join(plan))
    assert not problems, "\n".join(problems)


def test_a_later_tick_reads_the_routes_new_traffic_by_the_primary_key(storage_url: str) -> None:
    """After its first read, a tick takes the routes with healthy traffic from the rows added since (ids
    after the last read's newest): a range of the primary key, never an index of states, receivers or
    times (each holds the whole hour's traffic: 180,000 rows after ten minutes at 300 msg/s)."""
    dialect = "sqlite" if storage_url.startswith("sqlite") else "postgresql"
    receivers = [MUNICIPALITY_EAN, OTHER_EAN, HOSPITAL_EAN]
    outcomes = recent_outcomes_statement(
        receivers,
        AT - timedelta(hours=1),
        AT - timedelta(hours=24),
        AT + timedelta(hours=1),
        new_after=100,
        new_upto=100 + 10**12,
    )
    plan = explain_all(storage_url, [outcomes])[0]
    text = "\n".join(plan)
    if dialect == "sqlite":
        reads = [line for line in plan if line.startswith(("SCAN", "SEARCH")) and " gw_me" in line]
        fresh = [line for line in reads if "INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in line]
        assert len(reads) == 6 and all(line.startswith("SEARCH") for line in reads), text
        assert len(fresh) == 1, text
    else:
        reads = [line for line in plan if " Scan " in line and " on gw_me" in line]
        fresh = [line for line in reads if "gw_messages_pkey" in line and "Backward" not in line]
        assert len(reads) == 6 and "Seq Scan" not in text and "Bitmap" not in text, text
        assert len(fresh) == 1, text
        assert "Index Cond: ((id > 100) AND (id <= " in text, text
