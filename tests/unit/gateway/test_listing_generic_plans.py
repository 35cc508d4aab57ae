"""GET /api/v1/messages (every documented filter, their combinations, the keyset cursor, a partner's scope)
and the dead-letter desk's count per receiver read their index under every plan PostgreSQL may pick
(issue 14), as the health tick's and the queue's statements do (test_health_tick_generic_plans.py,
test_queue_generic_plans.py).

asyncpg prepares each statement; after five executions PostgreSQL may plan it once for unknown parameter
values (the generic plan) and keep that. ``receiver_ean = $1 ... ORDER BY created_at DESC, id DESC`` then
walked gw_messages_created backwards and filtered: at 3 M stored, 5.1 s for a receiver with no messages,
8.6 s for a state no message is in, 5.2 s for a hospital's own page (bench/results/generic_plans.md). Here
the statements the store really sends (captured from the calls) are prepared on an analysed table shaped
like the scale benchmark's and explained both ways."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from edigate.store.dead_letter_desk import SqlDeadLetterDesk
from edigate.store.messages import SearchFilter
from tests.harness.generic_plans import (
    AT,
    OTHER_EAN,
    ROWS,
    Plan,
    captured_statements,
    explained,
    scale_shaped_store,
)
from tests.unit.gateway.test_query_plans import (
    CREATED,
    ENVELOPE,
    RECEIVER,
    RECEIVER_STATE,
    SENDER,
    SENDER_STATE,
    STATE,
)
from tests.unit.medcom.samples import HOSPITAL_EAN, MUNICIPALITY_EAN

OWN = frozenset({HOSPITAL_EAN})
FUTURE = AT + timedelta(days=1)
DEEP = (AT - timedelta(days=10), 10**9)  # a cursor a third of the way down

# (name, filter, the listing indexes its page must read, rows expected): the filters whose generic plan
# walked gw_messages_created are the ones with nothing (or little) to find: a state no message is in, a
# receiver without messages, a `since` in the future
LISTINGS: list[tuple[str, SearchFilter, set[str], int | None]] = [
    ("none", SearchFilter(), {CREATED}, 100),
    ("state", SearchFilter(state="acknowledged"), {STATE}, 100),
    ("state nobody is in", SearchFilter(state="failed"), {STATE}, 0),
    ("since in the future", SearchFilter(since=FUTURE), {CREATED}, 0),
    ("envelope_id", SearchFilter(envelope_id="E123"), {ENVELOPE}, 1),
    ("sender", SearchFilter(sender=HOSPITAL_EAN), {SENDER}, 100),
    ("receiver without messages", SearchFilter(receiver=OTHER_EAN), {RECEIVER}, 0),
    ("receiver", SearchFilter(receiver=MUNICIPALITY_EAN), {RECEIVER}, 100),
    ("sender+state none in", SearchFilter(sender=MUNICIPALITY_EAN, state="acknowledged"), {SENDER_STATE}, 0),
    ("receiver+state", SearchFilter(receiver=MUNICIPALITY_EAN, state="acknowledged"), {RECEIVER_STATE}, 100),
    ("sender+receiver", SearchFilter(sender=HOSPITAL_EAN, receiver=MUNICIPALITY_EAN), {SENDER, RECEIVER}, 100),
    ("state+since in the future", SearchFilter(state="acknowledged", since=FUTURE), {STATE}, 0),
    ("receiver+since in the future", SearchFilter(receiver=MUNICIPALITY_EAN, since=FUTURE), {RECEIVER}, 0),
    ("cursor", SearchFilter(after=DEEP), {CREATED}, 100),
    ("state+cursor", SearchFilter(state="acknowledged", after=DEEP), {STATE}, 100),
    (
        "receiver+state+since+cursor",
        SearchFilter(receiver=MUNICIPALITY_EAN, state="accepted", since=AT - timedelta(days=20), after=DEEP),
        {RECEIVER_STATE},
        100,
    ),
    ("own", SearchFilter(visible_to=OWN), {SENDER, RECEIVER}, 100),
    ("own+state", SearchFilter(visible_to=OWN, state="acknowledged"), {SENDER_STATE, RECEIVER_STATE}, 100),
    ("own+state nobody is in", SearchFilter(visible_to=OWN, state="failed"), {SENDER_STATE, RECEIVER_STATE}, 0),
    ("own+since in the future", SearchFilter(visible_to=OWN, since=FUTURE), {SENDER, RECEIVER}, 0),
    (
        "own two EANs+state+cursor",
        SearchFilter(visible_to=frozenset({HOSPITAL_EAN, OTHER_EAN}), state="accepted", after=DEEP),
        {SENDER_STATE, RECEIVER_STATE},
        100,
    ),
    ("own+envelope_id", SearchFilter(visible_to=OWN, envelope_id="E123"), {ENVELOPE}, 1),
]


async def listing_plans(url: str) -> list[Plan]:
    """((name, statement), plan mode, plan lines) of each listing's page and the desk's count."""
    async with scale_shaped_store(url, started=False) as (db, store):
        with captured_statements(db) as captured:
            for name, f, _, expected in LISTINGS:
                captured.what = name
                rows = await store.search(f)
                assert expected is None or len(rows) == expected, (name, len(rows))
                keys = [(r["created_at"], r["id"]) for r in rows]
                assert keys == sorted(keys, reverse=True), name  # newest first, as the page always was
            captured.what = "dead-letter desk: count per receiver"
            assert await SqlDeadLetterDesk(store, {}).receivers() == []
    assert len(captured.sent) == len(LISTINGS) + 1, [s[0] for s in captured.sent]
    return await explained(url, captured.sent)


#: each listing index by the equality columns it starts with
PREFIXES = {
    CREATED: set(),
    STATE: {"state"},
    ENVELOPE: {"envelope_id"},
    SENDER: {"sender"},
    RECEIVER: {"receiver"},
    SENDER_STATE: {"sender", "state"},
    RECEIVER_STATE: {"receiver", "state"},
}


def ranges_of(f: SearchFilter) -> set[str]:
    """The listing indexes a range of which holds every match of `f`: those whose leading columns `f`
    fixes (a partner's own EAN fixes its side), and gw_messages_created bounded by `since`. Which of
    them a custom plan reads is its statistics' choice; test_query_plans.py pins the index per filter."""
    fixed = {k for k in ("envelope_id", "sender", "receiver", "state") if getattr(f, k)}
    if f.visible_to is not None:
        fixed |= {"sender", "receiver"}  # each side's range (one side's index per part of the union)
    found = {index for index, prefix in PREFIXES.items() if prefix and prefix <= fixed}
    return found | ({CREATED} if f.since or not found else set())


@pytest.mark.postgres
def test_every_listing_reads_its_index_with_a_custom_and_a_generic_plan(postgres_url: str) -> None:
    """Under the generic plan (values unknown) each page is a backward read of its filter's own listing
    index, stopping at the page's end: no sequential scan, no bitmap, no walk of gw_messages_created or the
    primary key filtering every row, no sort of what matched (a partner's page merges its sides' ranges,
    at most a page each). The custom plan reads a range holding the matches (its statistics may pick a
    shorter one: a `since` in the future is a range of gw_messages_created). The desk's count reads the
    failed rows' range."""
    assert ROWS >= 40_000  # the planner prices a walk of the table against a range only on a real table
    plans = asyncio.run(listing_plans(postgres_url))
    wanted = {name: (f, indexes) for name, f, indexes, _ in LISTINGS}
    problems = []
    for (what, statement), mode, plan in plans:
        text = "\n".join(plan)
        found = [w for w in ("Seq Scan", "Bitmap", "gw_messages_pkey") if w in text]
        if what in wanted:
            f, indexes = wanted[what]
            generic = mode == "force_generic_plan"
            allowed = indexes if generic else ranges_of(f)
            used = {line.split(" using ", 1)[1].split()[0] for line in plan if " using " in line}
            if not used or not used <= allowed:
                found.append(f"reads {sorted(used)}, expected only {sorted(allowed)}")
            if generic and f.visible_to is None and "Sort" in text:
                found.append("sorts what matched instead of reading in the index's order")
        elif "gw_messages_state_created" not in text:
            found.append("not a range of gw_messages_state_created")
        if found:
            shown = " ".join(statement.split())
            problems.append(
                f"{what}, {mode}: {found} in\n  {shown[shown.find('WHERE') :][:300]}\n  " + "\n  ".join(plan)
            )
    assert not problems, "\n\n".join(problems)
