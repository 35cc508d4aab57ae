"""Read-only SQL for route health: what the store knows about each route (sender -> receiver) right now.

The health monitor calls :func:`read_route_signals` every few seconds, so every query here is cheap and
rides an index of ``gw_messages``:

* pending work, per receiver: a loose index scan of the partial index ``gw_messages_pending_routes``
  (pending rows only; receiver, sender, type, created_at): one seek per route and type finds the group and
  its oldest message, and the count is a bounded range (up to ``PENDING_COUNT_CAP`` + 1), so a dead
  receiver's 140 k waiting messages cost what 1 k do;
* the failure streak: the head of each receiver's queue (FIFO: while it fails nothing behind it moves), and
  its first ``attempt_failed`` event (index ``gw_events_message``);
* the last success: per receiver, the newest delivered row (``gw_messages_queue`` backwards);
* receipts overdue, the recent refusal rate and the dead letters: ``state IN (…) AND created_at >= …``
  (``gw_messages_state_created`` or a receiver's index), all in one statement.

A tick is round trips, not rows: every seek of a round, whatever its kind and for every receiver, goes in
one compound statement (`batched`), so a tick with one waiting route per receiver is three statements,
however many partners and messages.

Nothing here reads ``body`` (which holds the CPR) and no error text leaves unscrubbed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from edigate.health import PENDING_COUNT_CAP, CircuitState, RouteSignals, TypeSignals
from edigate.logging import scrub_text
from edigate.store.db import Database
from edigate.store.recent_routes import RecentRoutes
from edigate.store.schema import PENDING, UtcDateTime, events, messages
from edigate.store.states import DeliveryState, MessageEvent, MessageState

__all__ = [
    "ReceiptSeen",
    "RecentRoutes",
    "RouteCounts",
    "StoreSignals",
    "read_new_receipts",
    "read_route_signals",
]

m = messages.c
Route = tuple[str, str]

#: the worker's circuit words -> the health module's
_CIRCUIT = {
    "closed": CircuitState.CLOSED,
    "open": CircuitState.OPEN,
    "half_open": CircuitState.HALF_OPEN,
    "half-open": CircuitState.HALF_OPEN,
}


@dataclass
class _TypeAcc:
    pending: int = 0
    oldest: datetime | None = None
    overdue: int = 0
    receipts: int = 0
    refusals: int = 0

    def signals(self) -> TypeSignals:
        return TypeSignals(self.pending, self.oldest, self.overdue, self.receipts, self.refusals)


@dataclass
class RouteCounts:
    """Accumulated per-route facts before they become a :class:`RouteSignals`."""

    by_type: dict[str, _TypeAcc] = field(default_factory=dict)

    def type(self, name: str) -> _TypeAcc:
        return self.by_type.setdefault(name, _TypeAcc())

    @property
    def pending(self) -> int:
        return sum(t.pending for t in self.by_type.values())

    @property
    def oldest(self) -> datetime | None:
        return min((t.oldest for t in self.by_type.values() if t.oldest is not None), default=None)


@dataclass(frozen=True)
class _Head:
    """The head of one receiver's queue when its last attempt failed."""

    sender: str
    attempts: int
    last_error: str | None
    failing_since: datetime | None


@dataclass(frozen=True)
class StoreSignals:
    """Everything one read produced: the route signals plus per-receiver queue figures for the gauges."""

    routes: tuple[RouteSignals, ...]
    queues: Mapping[str, tuple[int, datetime | None]]  # receiver -> (pending, oldest pending created_at)
    receipts_overdue: Mapping[str, int]  # receiver -> count


async def read_route_signals(
    db: Database,
    receivers: Sequence[str],
    now: datetime,
    *,
    receipt_window: timedelta = timedelta(hours=1),
    overdue_window: timedelta = timedelta(hours=24),
    circuits: Mapping[str, str] | None = None,
    recent_routes: RecentRoutes | None = None,
) -> StoreSignals:
    """The signals of every route into ``receivers`` that has pending work, overdue receipts or receipts
    in the last ``receipt_window``; ``circuits`` maps receiver -> the delivery worker's circuit state.
    ``recent_routes`` is the health loop's memory of the routes with healthy traffic between its ticks
    (without it, this read takes them from the whole window, as a first tick does).

    Overdue receipts count for messages sent within ``overdue_window``: an old message whose receipt
    never came stays visible in the message API, but does not keep its route degraded for ever.

    Round trips, not rows, are what a tick costs on a busy machine (each one waits for the database's
    process to be scheduled), so they are few and fixed: the queues in rounds of seeks (two when each
    receiver has one route and type waiting), the recent outcomes in one statement, and outside a
    transaction on PostgreSQL (no BEGIN/ROLLBACK; each statement reads its own snapshot, as it did)."""
    circuits = circuits or {}
    routes: dict[Route, RouteCounts] = {}
    last_success: dict[str, datetime] = {}
    dead: dict[Route, tuple[int, str | None]] = {}
    if not receivers:
        return StoreSignals((), {}, {})
    receivers = list(receivers)
    async with db.engine.connect() as conn:
        if db.dialect == "postgresql":
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        found = await _read_queues(conn, receivers)
        for sender, receiver, mtype, count, oldest in found.groups:
            acc = routes.setdefault((sender, receiver), RouteCounts()).type(mtype)
            acc.pending += count
            acc.oldest = oldest
        heads = found.heads
        for receiver, delivered_at in found.last_delivered.items():
            last_success[receiver] = delivered_at

        recent_routes = recent_routes if recent_routes is not None else RecentRoutes()
        recent = await _recent_outcomes(conn, receivers, now, receipt_window, overdue_window, recent_routes)
        dead_streaks = await _dead_letter_streaks(
            conn, recent.get("streak", []), heads, last_success, now - overdue_window
        )
        for route in dead_streaks:
            routes.setdefault(route, RouteCounts())

        for row in recent.get("overdue", []):
            routes.setdefault((row.sender_ean, row.receiver_ean), RouteCounts()).type(row.type).overdue += int(row.n)
        for row in recent.get("answered", []):
            acc = routes.setdefault((row.sender_ean, row.receiver_ean), RouteCounts()).type(row.type)
            acc.receipts += int(row.n)
            if row.state == MessageState.REFUSED:
                acc.refusals += int(row.n)
        # traffic in the window that is healthy and not yet answered (delivered, awaiting its receipt, or
        # never asking for one): the route is known and ok, not missing from /api/v1/routes
        for route in recent_routes.routes(receivers, now - receipt_window):
            routes.setdefault(route, RouteCounts())
        for row in recent.get("dead", []):  # rare: one more read per such route
            reason = (await conn.execute(sa.select(m.last_error).where(m.id == row.id))).scalar()
            dead[(row.sender_ean, row.receiver_ean)] = (int(row.n), scrub_text(reason)[:300] if reason else None)
            routes.setdefault((row.sender_ean, row.receiver_ean), RouteCounts())

    out: list[RouteSignals] = []
    queues: dict[str, tuple[int, datetime | None]] = {r: (0, None) for r in receivers}
    overdue_by_receiver: dict[str, int] = {}
    for (sender, receiver), counts in sorted(routes.items()):
        head = heads.get(receiver)
        failing = head is not None and counts.pending > 0
        if not failing and (sender, receiver) in dead_streaks:
            head, failing = dead_streaks[(sender, receiver)], True
        error = scrub_text(head.last_error)[:300] if failing and head and head.last_error else None
        types = {t: acc.signals() for t, acc in sorted(counts.by_type.items())}
        out.append(
            RouteSignals(
                sender=sender,
                receiver=receiver,
                pending_count=counts.pending,
                oldest_pending_at=counts.oldest,
                consecutive_failures=head.attempts if failing and head else 0,
                failing_since=head.failing_since if failing and head else None,
                last_success_at=last_success.get(receiver),
                receipts_overdue=sum(t.overdue for t in counts.by_type.values()),
                receipts=sum(t.receipts for t in counts.by_type.values()),
                refusals=sum(t.refusals for t in counts.by_type.values()),
                circuit=_CIRCUIT.get(circuits.get(receiver, "closed"), CircuitState.CLOSED),
                last_error=error,
                by_type=types,
                dead_letters=dead.get((sender, receiver), (0, None))[0],
                last_dead_letter=dead.get((sender, receiver), (0, None))[1],
            )
        )
        if counts.pending:
            depth, oldest = queues.get(receiver, (0, None))
            candidates = [t for t in (oldest, counts.oldest) if t is not None]
            queues[receiver] = (depth + counts.pending, min(candidates) if candidates else None)
        overdue_by_receiver[receiver] = overdue_by_receiver.get(receiver, 0) + out[-1].receipts_overdue
    return StoreSignals(tuple(out), queues, overdue_by_receiver)


async def _dead_letter_streaks(
    conn: AsyncConnection,
    rows: Sequence[Any],
    heads: Mapping[str, _Head],
    last_success: Mapping[str, datetime],
    not_before: datetime,
) -> dict[Route, _Head]:
    """Routes whose receiver's last outcome was a dead letter: still failing, although nothing is pending.

    Dead-lettering a dead receiver's queue empties it; that is not recovery. Only a later successful
    delivery to the receiver ends the streak (``last_success``), so the route stays down until then and no
    "OK igen" / "Løst" goes out while the receiver still answers 503. ``failing_since`` is the first failed
    attempt among the streak's dead letters. ``rows`` are the dead letters per route since ``not_before``
    (``_recent_outcomes``, kind "streak"); a receiver whose queue head is failing is not a candidate."""
    out: dict[Route, _Head] = {}
    for row in rows:
        receiver, sender = row.receiver_ean, row.sender_ean
        if receiver in heads:
            continue
        success = last_success.get(receiver)
        last_dead_at = _aware(row.at)
        if last_dead_at is None or (success is not None and success >= last_dead_at):
            continue
        bound = max(not_before, success) if success is not None else not_before
        # the receiver's fault only: a letter dead at once for its own sake (never attempted and failed)
        # leaves the route's health as it was
        first_failure = (
            await conn.execute(
                sa.select(sa.func.min(events.c.at))
                .select_from(events.join(messages, events.c.message_id == m.id))
                .where(
                    m.receiver_ean == receiver,
                    m.sender_ean == sender,
                    m.delivery_state == _const(DeliveryState.FAILED),
                    m.updated_at >= bound,
                    events.c.event == _const(MessageEvent.ATTEMPT_FAILED),
                )
            )
        ).scalar()
        since = _aware(first_failure)
        if since is None:
            continue
        out[(sender, receiver)] = _Head(sender, int(row.n), row.last_error, since)
    return out


# ------------------------------------------------------------------------------------------- the queues

#: The one row shape of every seek, so that seeks of different kinds share one compound statement (one
#: round trip): each statement below names its columns from these, the rest are typed NULLs.
SEEK_SHAPE: dict[str, sa.types.TypeEngine[Any]] = {
    "sender_ean": sa.String(13),
    "type": sa.String(32),
    "at": UtcDateTime(),
    "id": sa.BigInteger(),
    "n": sa.Integer(),
    "last_error": sa.Text(),
}


def first_pending_statement(receiver: Any, sender: Any = None, after_type: Any = None) -> sa.Select[Any]:
    """The first entry of the pending rows' index for `receiver` after a group: with `sender` and
    `after_type`, the next message type of that route; with `sender` alone, the first route whose sender
    sorts after it; with neither, the receiver's first route. The entry is the group's oldest message (the
    index is receiver, sender, type, created_at), so one seek gives a group and its oldest pending: a
    loose index scan whose cost follows the number of routes, not of waiting messages."""
    where: list[sa.ColumnElement[bool]] = [m.receiver_ean == receiver, sa.text(PENDING)]  # type: ignore[list-item]
    order: tuple[sa.Column[Any], ...]
    if sender is not None and after_type is not None:
        where += [m.sender_ean == sender, m.type > after_type]
        order = (m.type, m.created_at)
    else:
        if sender is not None:
            where.append(m.sender_ean > sender)
        order = (m.sender_ean, m.type, m.created_at)
    return sa.select(m.sender_ean, m.type, m.created_at.label("at")).where(*where).order_by(*order).limit(1)


def pending_count_statement(receiver: Any, sender: Any, mtype: Any, cap: int = PENDING_COUNT_CAP) -> sa.Select[Any]:
    """How many messages of one route and type wait, counted up to `cap` + 1: a bounded range of the
    pending rows' index (on PostgreSQL index only), so its cost stops growing at the cap."""
    rows = (
        sa.select(sa.literal(1).label("one"))
        .where(m.receiver_ean == receiver, m.sender_ean == sender, m.type == mtype, sa.text(PENDING))
        .limit(cap + 1)
        .subquery()
    )
    return sa.select(sa.func.count().label("n")).select_from(rows)


def queue_run(receiver: Any, delivery_state: DeliveryState) -> tuple[list[sa.ColumnElement[bool]], list[Any]]:
    """The WHERE and ORDER BY of one receiver's messages in one delivery state, by id, as a range of index
    gw_messages_queue (receiver_ean, delivery_state, id) that no plan can replace by a walk of the primary
    key: the delivery worker's next messages, a mailbox fetch, a queue's head or last delivery.

    Written as "the entries of the index from (receiver, state) to (receiver, state)" (row-value bounds,
    ordered by the index's own columns): only gw_messages_queue yields that order, so every plan,
    PostgreSQL's generic plan of the prepared statement too, is one descent of it, read only as far as
    the rows wanted. The plain form (``receiver = :r AND delivery_state = :s ORDER BY id``) lets
    PostgreSQL walk gw_messages_pkey instead, filtering (equalities make the order by the key's columns
    an order by id), whenever it believes matches are common (its columns' statistics multiplied as if
    independent): for a hospital with 550 k receipts queued and none delivered, that walked every stored
    row for "the last delivery" (2 s a tick at 1 M), and a receiver with an empty queue walked them all
    for its next messages.

    PostgreSQL 15 ends such a scan only where the first column (the receiver) leaves the range; a state
    with no rows is read past through the receiver's rows of the states after it (oldest first) or before
    it (newest first). Hence only the ends of the states' order are read this way: 'pending' oldest first,
    'delivered' newest first (delivered < failed < none < pending)."""
    key = (m.receiver_ean, m.delivery_state)
    at = sa.tuple_(receiver, _const(delivery_state))
    return [sa.tuple_(*key) >= at, sa.tuple_(*key) <= at], [*key, m.id]


def queue_seek(receiver: Any, delivery_state: DeliveryState, *columns: Any, newest: bool = False) -> sa.Select[Any]:
    """The first (`newest`: the last) message of one receiver's queue in one delivery state, by id: one
    seek of gw_messages_queue (:func:`queue_run`)."""
    where, order = queue_run(receiver, delivery_state)
    return sa.select(*columns).where(*where).order_by(*(c.desc() for c in order) if newest else order).limit(_const(1))


#: how far ahead of the tick's clock a row's time may be and still count (another instance's clock)
CLOCK_AHEAD = timedelta(hours=1)


def _consts(*values: str) -> list[sa.BindParameter[str]]:
    return [_const(v) for v in values]


def _const(value: Any) -> sa.BindParameter[Any]:
    """A constant of the code (a state, a limit), written into the SQL: PostgreSQL's generic plan of a
    prepared statement then still knows which state it reads (its share from the statistics, not "any of
    4") and that one row is enough (not 10 % of the matches)."""
    if isinstance(value, int):
        return sa.bindparam(None, value, type_=sa.Integer(), literal_execute=True)
    return sa.bindparam(None, str(value), type_=sa.String(16), literal_execute=True)


def head_statement(receiver: Any) -> sa.Select[Any]:
    """The head of a receiver's queue (FIFO by id; a seek of gw_messages_queue)."""
    columns = (m.id, m.sender_ean, m.attempts.label("n"), m.last_error)
    return queue_seek(receiver, DeliveryState.PENDING, *columns)


def first_failure_statement(message_id: Any) -> sa.Select[Any]:
    """When a message's first delivery attempt failed (index gw_events_message)."""
    return sa.select(sa.func.min(events.c.at).label("at")).where(
        events.c.message_id == message_id, events.c.event == _const(MessageEvent.ATTEMPT_FAILED)
    )


def last_delivered_statement(receiver: Any) -> sa.Select[Any]:
    """A receiver's newest delivered message (gw_messages_queue backwards, one seek)."""
    return queue_seek(receiver, DeliveryState.DELIVERED, m.delivered_at.label("at"), newest=True)


#: seeks per compound statement: one round trip for many, well under SQLite's 500 terms of a compound SELECT
_TERMS = 120


def batched(statements: Sequence[sa.Select[Any]]) -> list[sa.CompoundSelect[Any] | sa.Select[Any]]:
    """The statements as few round trips: UNION ALL of each one wrapped as a subquery (so that each keeps
    its own ORDER BY and LIMIT, and its own index seek), tagged with its position in column ``seek`` and
    brought to :data:`SEEK_SHAPE`."""
    out: list[sa.CompoundSelect[Any] | sa.Select[Any]] = []
    for start in range(0, len(statements), _TERMS):
        terms = []
        for i, stmt in enumerate(statements[start : start + _TERMS], start):
            sub = stmt.subquery()
            shaped = [sub.c[name] if name in sub.c else sa.cast(sa.null(), kind) for name, kind in SEEK_SHAPE.items()]
            terms.append(
                sa.select(
                    sa.literal(i).label("seek"),
                    *(col.label(name) for col, name in zip(shaped, SEEK_SHAPE, strict=True)),
                )
            )
        out.append(terms[0] if len(terms) == 1 else sa.union_all(*terms))
    return out


#: A seek of a round: its kind and its arguments (an argument None = that part of the seek is absent).
Seek = tuple[str, tuple[Any, ...]]
_BUILDERS: dict[str, Any] = {
    "group": first_pending_statement,
    "count": pending_count_statement,
    "failure": first_failure_statement,
    "head": head_statement,
    "delivered": last_delivered_statement,
}


@functools.lru_cache(maxsize=256)
def _round_statements(shape: tuple[tuple[str, tuple[bool, ...]], ...]) -> list[sa.CompoundSelect[Any] | sa.Select[Any]]:
    """The compound statements of a round of this shape (kinds, and which arguments are given), with bound
    parameters ``a<seek>_<argument>`` for the values: built once per shape, not per tick (building them
    was ~8 ms of CPU a tick, which a loaded machine turns into tens of ms)."""
    statements = []
    for i, (kind, given) in enumerate(shape):
        args: list[Any] = [sa.bindparam(f"a{i}_{j}") if present else None for j, present in enumerate(given)]
        statements.append(_BUILDERS[kind](*args))
    return batched(statements)


async def _each(conn: AsyncConnection, seeks: Sequence[Seek]) -> list[Any]:
    """The first row (or None) of each seek, in order, in one round trip per _TERMS seeks."""
    shape = tuple((kind, tuple(a is not None for a in args)) for kind, args in seeks)
    params = {f"a{i}_{j}": a for i, (_, args) in enumerate(seeks) for j, a in enumerate(args) if a is not None}
    found: list[Any] = [None] * len(seeks)
    for compound in _round_statements(shape):
        for row in (await conn.execute(compound, params)).all():
            if found[row.seek] is None:
                found[row.seek] = row
    return found


@dataclass
class _Queues:
    groups: list[tuple[str, str, str, int, datetime | None]]  # sender, receiver, type, count (capped), oldest
    heads: dict[str, _Head]  # receivers whose queue head's last attempt failed
    last_delivered: dict[str, datetime]


async def _read_queues(conn: AsyncConnection, receivers: Sequence[str]) -> _Queues:
    """Every group (route and type) with work, its oldest message and its count up to the cap + 1; the
    head of each queue; each receiver's last delivery: a loose index scan in rounds, every kind of seek
    of a round in one compound statement.

    Round one seeks every receiver's first group, its queue head and its last delivery; each later round
    seeks the next group after the one just found (the next type of the same route, else the next route),
    counts the groups found in the round before, and finds when a failing head first failed. Rounds = the
    most groups any receiver has, plus one: the cost follows routes, never the messages waiting."""
    groups: list[tuple[str, str, str, datetime | None]] = []
    counts: dict[int, int] = {}
    frontier: list[tuple[str, str | None, str | None]] = [(r, None, None) for r in receivers]
    uncounted: list[int] = []
    failing: dict[str, Any] = {}  # receiver -> its head row, until its first failure is read
    heads: dict[str, _Head] = {}
    last_delivered: dict[str, datetime] = {}
    first = True
    while frontier or uncounted or failing:
        seeks: list[Seek] = []
        for receiver, sender, mtype in frontier:
            seeks.append(("group", (receiver, sender, mtype)))
            if sender is not None:
                seeks.append(("group", (receiver, sender, None)))
        counted = len(seeks)
        seeks += [("count", (groups[g][1], groups[g][0], groups[g][2])) for g in uncounted]
        failures = len(seeks)
        seeks += [("failure", (head.id,)) for head in failing.values()]
        extra = len(seeks)
        if first:
            seeks += [("head", (r,)) for r in receivers] + [("delivered", (r,)) for r in receivers]
        rows = await _each(conn, seeks)

        following: list[tuple[str, str | None, str | None]] = []
        found: list[int] = []
        k = 0
        for receiver, sender, _mtype in frontier:
            row = rows[k]
            if sender is not None:
                row = row if row is not None else rows[k + 1]
                k += 1
            k += 1
            if row is None:
                continue
            found.append(len(groups))
            groups.append((row.sender_ean, receiver, row.type, _aware(row.at)))
            following.append((receiver, row.sender_ean, row.type))
        for g, row in zip(uncounted, rows[counted:failures], strict=True):
            counts[g] = int(row.n)
        for (receiver, head), row in zip(failing.items(), rows[failures:extra], strict=True):
            heads[receiver] = _Head(head.sender_ean, int(head.n), head.last_error, _aware(row.at if row else None))
        failing = {}
        if first:
            n = len(receivers)
            for receiver, head in zip(receivers, rows[extra : extra + n], strict=True):
                if head is not None and head.last_error and head.n > 0:
                    failing[receiver] = head
            for receiver, delivered in zip(receivers, rows[extra + n :], strict=True):
                if delivered is not None and delivered.at is not None:
                    last_delivered[receiver] = _aware(delivered.at)  # type: ignore[assignment]
        frontier, uncounted, first = following, found, False
    return _Queues([(s, r, t, counts[g], oldest) for g, (s, r, t, oldest) in enumerate(groups)], heads, last_delivered)


# ------------------------------------------------------------------------------------ recent outcomes

#: The row shape of the recent-outcome reads, so that all of them go as one statement.
_OUTCOME_SHAPE: dict[str, sa.types.TypeEngine[Any]] = {
    "sender_ean": sa.String(13),
    "receiver_ean": sa.String(13),
    "type": sa.String(32),
    "state": sa.String(16),
    "n": sa.Integer(),
    "id": sa.BigInteger(),
    "last_error": sa.Text(),
    "at": UtcDateTime(),
}


def recent_outcomes_statement(
    receivers: Any,
    since_receipts: Any,
    since_overdue: Any,
    until: Any,
    *,
    new_after: Any = None,
    new_upto: Any = None,
) -> sa.CompoundSelect[Any]:
    """The routes' recent outcomes, one grouped read per kind, all in one statement (UNION ALL, each part
    planned on its own), tagged by ``kind``:

    * ``overdue``: receipts overdue per route and type, messages sent since ``since_overdue``;
    * ``answered``: receipts (positive and refusals) per route, type and state since ``since_receipts``;
    * ``delivered`` (without ``new_after``): routes with healthy unanswered traffic since
      ``since_receipts``, with the newest such message's ``at``: the whole window, read once;
    * ``fresh`` (with ``new_after``): the same for the rows with ids in (``new_after``, ``new_upto``] only,
      a range of the primary key whatever the hour's traffic (:mod:`edigate.store.recent_routes` keeps
      the routes between ticks);
    * ``dead``: dead letters per route since ``since_overdue``, with the newest one's id;
    * ``streak``: dead letters per route by last change since ``since_overdue``, with the newest change
      and error (the dead-letter streak of a receiver whose queue is empty);
    * ``newest``: the newest id stored (the next ``new_after``), one seek of the primary key.

    ``overdue``, ``answered``, ``delivered`` and ``dead`` ride ``gw_messages_state_created`` (or a
    receiver's index), ``streak`` ``gw_messages_queue`` (receiver, delivery_state), ``fresh`` the primary
    key (its state compared as ``state || ''`` and its receivers filtered by the caller, so no plan takes
    an index that holds the hour instead), in every plan: the states are constants in the SQL
    and each window is closed by ``until`` (some time after the tick's clock, for a clock that runs ahead).
    PostgreSQL's generic plan of the prepared statement prices a range open at one unknown end as a third
    of the table (a sequential scan: 9.9 s at 1 M stored) and one closed at both ends as 0.5 % (index
    ranges: what the values give too)."""
    within = m.receiver_ean.in_(receivers)

    def since(column: Any, bound: Any) -> sa.ColumnElement[bool]:
        return sa.and_(column >= bound, column <= until)

    parts: list[tuple[str, dict[str, Any], list[sa.ColumnElement[bool]], list[Any]]] = [
        (
            "overdue",
            {"sender_ean": m.sender_ean, "receiver_ean": m.receiver_ean, "type": m.type, "n": sa.func.count()},
            [m.state == _const(MessageState.RECEIPT_OVERDUE), since(m.created_at, since_overdue), within],
            [m.sender_ean, m.receiver_ean, m.type],
        ),
        (
            "answered",
            {
                "sender_ean": m.sender_ean,
                "receiver_ean": m.receiver_ean,
                "type": m.type,
                "state": m.state,
                "n": sa.func.count(),
            },
            [
                m.state.in_(_consts(MessageState.ACKNOWLEDGED, MessageState.REFUSED)),
                since(m.created_at, since_receipts),
                within,
            ],
            [m.sender_ean, m.receiver_ean, m.type, m.state],
        ),
        (
            "delivered",
            {"sender_ean": m.sender_ean, "receiver_ean": m.receiver_ean, "at": sa.func.max(m.created_at)},
            [
                m.state.in_(_consts(MessageState.DELIVERED, MessageState.ACCEPTED)),
                since(m.created_at, since_receipts),
                within,
            ],
            [m.sender_ean, m.receiver_ean],
        )
        if new_after is None
        else (
            "fresh",
            {"sender_ean": m.sender_ean, "receiver_ean": m.receiver_ean, "at": sa.func.max(m.created_at)},
            [
                m.id > new_after,
                m.id <= new_upto,  # closed: a generic plan prices an open range as a third of the table
                sa.literal_column("gw_messages.state || ''").in_(
                    _consts(MessageState.DELIVERED, MessageState.ACCEPTED)
                ),
            ],
            [m.sender_ean, m.receiver_ean],
        ),
        (
            "dead",
            {"sender_ean": m.sender_ean, "receiver_ean": m.receiver_ean, "n": sa.func.count(), "id": sa.func.max(m.id)},
            [m.state == _const(MessageState.FAILED), since(m.created_at, since_overdue), within],
            [m.sender_ean, m.receiver_ean],
        ),
        (
            "streak",
            {
                "sender_ean": m.sender_ean,
                "receiver_ean": m.receiver_ean,
                "n": sa.func.count(),
                "last_error": sa.func.max(m.last_error),
                "at": sa.func.max(m.updated_at),
            },
            [within, m.delivery_state == _const(DeliveryState.FAILED), since(m.updated_at, since_overdue)],
            [m.receiver_ean, m.sender_ean],
        ),
    ]
    terms = []
    for kind, cols, where, group in parts:
        shaped = [cols.get(name, sa.cast(sa.null(), t)).label(name) for name, t in _OUTCOME_SHAPE.items()]
        terms.append(sa.select(sa.literal(kind).label("kind"), *shaped).where(*where).group_by(*group))
    newest = {"id": sa.func.max(m.id)}
    shaped = [newest.get(name, sa.cast(sa.null(), t)).label(name) for name, t in _OUTCOME_SHAPE.items()]
    terms.append(sa.select(sa.literal("newest").label("kind"), *shaped))
    return sa.union_all(*terms)


#: how far past the last read's newest id a tick reads new rows (closes the primary key's range)
_NEW_IDS_SPAN = 10**12


@functools.lru_cache(maxsize=2)
def _recent_outcomes_cached(incremental: bool) -> sa.CompoundSelect[Any]:
    return recent_outcomes_statement(
        sa.bindparam("receivers", expanding=True),
        sa.bindparam("since_receipts", type_=UtcDateTime()),
        sa.bindparam("since_overdue", type_=UtcDateTime()),
        sa.bindparam("until", type_=UtcDateTime()),
        new_after=sa.bindparam("new_after", type_=sa.BigInteger()) if incremental else None,
        new_upto=sa.bindparam("new_upto", type_=sa.BigInteger()) if incremental else None,
    )


async def _recent_outcomes(
    conn: AsyncConnection,
    receivers: Sequence[str],
    now: datetime,
    receipt_window: timedelta,
    overdue_window: timedelta,
    recent_routes: RecentRoutes,
) -> dict[str, list[Any]]:
    """The rows of :func:`recent_outcomes_statement` by kind (one round trip; the statement built once),
    the routes with healthy traffic taken into `recent_routes`: the whole window on its first read, then
    only the rows added since."""
    out: dict[str, list[Any]] = {}
    incremental = recent_routes.incremental(receivers, receipt_window, now)
    params: dict[str, Any] = {
        "receivers": list(receivers),
        "since_receipts": now - receipt_window,
        "since_overdue": now - overdue_window,
        "until": now + CLOCK_AHEAD,
    }
    if incremental:
        after = recent_routes.after_id()
        params |= {"new_after": after, "new_upto": after + _NEW_IDS_SPAN}
    for row in (await conn.execute(_recent_outcomes_cached(incremental), params)).all():
        out.setdefault(row.kind, []).append(row)
    newest = out.get("newest", [])
    seen = out.get("fresh" if incremental else "delivered", [])
    recent_routes.note(
        ((row.sender_ean, row.receiver_ean, _aware(row.at)) for row in seen),
        int(newest[0].id) if newest and newest[0].id is not None else None,
        now,
    )
    return out


def _aware(value: datetime | None) -> datetime | None:
    """UtcDateTime already returns aware values; min() over it on SQLite may come back as text or naive."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True)
class ReceiptSeen:
    """A receipt correlated with its original since the last look, for the receipt latency histogram."""

    message_type: str
    latency_seconds: float
    receipt_at: datetime


async def read_new_receipts(
    db: Database, after: datetime, now: datetime, *, window: timedelta = timedelta(hours=3)
) -> list[ReceiptSeen]:
    """Originals answered (XCTL03/XCTL02) after ``after``; latency = receipt time - delivery time.

    Bounded to originals created within ``window`` so the scan rides ``gw_messages_state_created``, in
    every plan: constant states, and the window closed at both ends as in :func:`recent_outcomes_statement`
    (a generic plan of the open form read the whole table: 9.3 s at 3 M stored).
    """
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(m.type, m.delivered_at, m.receipt_at).where(
                    m.state.in_(_consts(MessageState.ACKNOWLEDGED, MessageState.REFUSED)),
                    m.created_at >= now - window,
                    m.created_at <= now + CLOCK_AHEAD,
                    m.receipt_at > after,
                )
            )
        ).all()
    out = []
    for mtype, delivered_at, receipt_at in rows:
        delivered, answered = _aware(delivered_at), _aware(receipt_at)
        if delivered is None or answered is None:
            continue
        out.append(ReceiptSeen(mtype, max(0.0, (answered - delivered).total_seconds()), answered))
    return out
