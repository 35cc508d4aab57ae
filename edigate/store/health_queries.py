"""Read-only SQL for route health: what the store knows about each route (sender -> receiver) right now.

The health monitor calls :func:`read_route_signals` every few seconds, so every query here is cheap and
rides an index of ``gw_messages``:

* pending work, per receiver: a loose index scan of the partial index ``gw_messages_pending_routes``
  (pending rows only; receiver, sender, type, created_at): one seek per route and type finds the group and
  its oldest message, and the count is a bounded range (up to ``PENDING_COUNT_CAP`` + 1), so a dead
  receiver's 140 k waiting messages cost what 10 k do. The seeks of all receivers go in one compound
  statement per round (`batched`): the tick's round trips do not grow with the number of partners either;
* the failure streak: the head of each receiver's queue (FIFO: while it fails nothing behind it moves), and
  its first ``attempt_failed`` event (index ``gw_events_message``);
* the last success: per receiver, the newest delivered row (``gw_messages_queue`` backwards);
* receipts overdue, the recent refusal rate and the dead letters: ``state IN (…) AND created_at >= …``
  (``gw_messages_state_created``).

Nothing here reads ``body`` (which holds the CPR) and no error text leaves unscrubbed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from edigate.health import PENDING_COUNT_CAP, CircuitState, RouteSignals, TypeSignals
from edigate.logging import scrub_text
from edigate.store.db import Database
from edigate.store.schema import PENDING, events, messages
from edigate.store.states import DeliveryState, MessageState

__all__ = [
    "ReceiptSeen",
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
) -> StoreSignals:
    """The signals of every route into ``receivers`` that has pending work, overdue receipts or receipts
    in the last ``receipt_window``; ``circuits`` maps receiver -> the delivery worker's circuit state.

    Overdue receipts count for messages sent within ``overdue_window``: an old message whose receipt
    never came stays visible in the message API, but does not keep its route degraded for ever."""
    circuits = circuits or {}
    routes: dict[Route, RouteCounts] = {}
    heads: dict[str, _Head] = {}
    last_success: dict[str, datetime] = {}
    dead: dict[Route, tuple[int, str | None]] = {}
    if not receivers:
        return StoreSignals((), {}, {})
    receivers = list(receivers)
    async with db.engine.connect() as conn:
        for sender, receiver, mtype, count, oldest in await _pending_routes(conn, receivers):
            acc = routes.setdefault((sender, receiver), RouteCounts()).type(mtype)
            acc.pending += count
            acc.oldest = oldest

        receivers_pending = sorted({r for (_, r) in routes})
        head_rows = await _each(conn, [head_statement(r) for r in receivers_pending])
        for receiver, head_row in zip(receivers_pending, head_rows, strict=True):
            if head_row is None or not head_row.last_error or head_row.attempts <= 0:
                continue
            first_failure = (
                await conn.execute(
                    sa.select(sa.func.min(events.c.at)).where(
                        events.c.message_id == head_row.id, events.c.event == "attempt_failed"
                    )
                )
            ).scalar()
            heads[receiver] = _Head(
                head_row.sender_ean, int(head_row.attempts), head_row.last_error, _aware(first_failure)
            )

        delivered_rows = await _each(conn, [last_delivered_statement(r) for r in receivers])
        for receiver, delivered in zip(receivers, delivered_rows, strict=True):
            if delivered is not None and delivered.delivered_at is not None:
                last_success[receiver] = _aware(delivered.delivered_at)  # type: ignore[assignment]

        dead_streaks = await _dead_letter_streaks(conn, receivers, heads, last_success, now - overdue_window)
        for route in dead_streaks:
            routes.setdefault(route, RouteCounts())

        overdue = (
            await conn.execute(
                sa.select(m.sender_ean, m.receiver_ean, m.type, sa.func.count())
                .where(
                    m.state == MessageState.RECEIPT_OVERDUE,
                    m.created_at >= now - overdue_window,
                    m.receiver_ean.in_(receivers),
                )
                .group_by(m.sender_ean, m.receiver_ean, m.type)
            )
        ).all()
        for sender, receiver, mtype, count in overdue:
            routes.setdefault((sender, receiver), RouteCounts()).type(mtype).overdue += int(count)

        answered = (
            await conn.execute(
                sa.select(m.sender_ean, m.receiver_ean, m.type, m.state, sa.func.count())
                .where(
                    m.state.in_((MessageState.ACKNOWLEDGED, MessageState.REFUSED)),
                    m.created_at >= now - receipt_window,
                    m.receiver_ean.in_(receivers),
                )
                .group_by(m.sender_ean, m.receiver_ean, m.type, m.state)
            )
        ).all()
        for sender, receiver, mtype, state, count in answered:
            acc = routes.setdefault((sender, receiver), RouteCounts()).type(mtype)
            acc.receipts += int(count)
            if state == MessageState.REFUSED:
                acc.refusals += int(count)

        # traffic in the window that is healthy and not yet answered (delivered, awaiting its receipt, or
        # never asking for one): the route is known and ok, not missing from /api/v1/routes
        delivered = (
            await conn.execute(
                sa.select(m.sender_ean, m.receiver_ean)
                .where(
                    m.state.in_((MessageState.DELIVERED, MessageState.ACCEPTED)),
                    m.created_at >= now - receipt_window,
                    m.receiver_ean.in_(receivers),
                )
                .group_by(m.sender_ean, m.receiver_ean)
            )
        ).all()
        for sender, receiver in delivered:
            routes.setdefault((sender, receiver), RouteCounts())

        dead_rows = (
            await conn.execute(
                sa.select(m.sender_ean, m.receiver_ean, sa.func.count(), sa.func.max(m.id))
                .where(
                    m.state == MessageState.FAILED, m.created_at >= now - overdue_window, m.receiver_ean.in_(receivers)
                )
                .group_by(m.sender_ean, m.receiver_ean)
            )
        ).all()
        for sender, receiver, count, newest in dead_rows:  # rare: one more read per such route
            reason = (await conn.execute(sa.select(m.last_error).where(m.id == newest))).scalar()
            dead[(sender, receiver)] = (int(count), scrub_text(reason)[:300] if reason else None)
            routes.setdefault((sender, receiver), RouteCounts())

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
    receivers: Sequence[str],
    heads: Mapping[str, _Head],
    last_success: Mapping[str, datetime],
    not_before: datetime,
) -> dict[Route, _Head]:
    """Routes whose receiver's last outcome was a dead letter: still failing, although nothing is pending.

    Dead-lettering a dead receiver's queue empties it; that is not recovery. Only a later successful
    delivery to the receiver ends the streak (``last_success``), so the route stays down until then and no
    "OK igen" / "Løst" goes out while the receiver still answers 503. ``failing_since`` is the first failed
    attempt among the streak's dead letters. Rides ``gw_messages_queue`` (receiver, state, id)."""
    candidates = [r for r in receivers if r not in heads]
    if not candidates:
        return {}
    rows = (
        await conn.execute(
            sa.select(
                m.receiver_ean, m.sender_ean, sa.func.count(), sa.func.max(m.last_error), sa.func.max(m.updated_at)
            )
            .where(m.receiver_ean.in_(candidates), m.delivery_state == DeliveryState.FAILED, m.updated_at >= not_before)
            .group_by(m.receiver_ean, m.sender_ean)
        )
    ).all()
    out: dict[Route, _Head] = {}
    for receiver, sender, count, last_error, last_dead in rows:
        success = last_success.get(receiver)
        last_dead_at = _aware(last_dead)
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
                    m.delivery_state == DeliveryState.FAILED,
                    m.updated_at >= bound,
                    events.c.event == "attempt_failed",
                )
            )
        ).scalar()
        since = _aware(first_failure)
        if since is None:
            continue
        out[(sender, receiver)] = _Head(sender, int(count), last_error, since)
    return out


def first_pending_statement(receiver: str, sender: str | None = None, after_type: str | None = None) -> sa.Select[Any]:
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
    return sa.select(m.sender_ean, m.type, m.created_at).where(*where).order_by(*order).limit(1)


def pending_count_statement(receiver: str, sender: str, mtype: str, cap: int = PENDING_COUNT_CAP) -> sa.Select[Any]:
    """How many messages of one route and type wait, counted up to `cap` + 1: a bounded index range."""
    rows = (
        sa.select(sa.literal(1).label("one"))
        .where(m.receiver_ean == receiver, m.sender_ean == sender, m.type == mtype, sa.text(PENDING))
        .limit(cap + 1)
        .subquery()
    )
    return sa.select(sa.func.count().label("n")).select_from(rows)


def head_statement(receiver: str) -> sa.Select[Any]:
    """The head of a receiver's queue (FIFO by id; index gw_messages_queue)."""
    return (
        sa.select(m.id, m.sender_ean, m.attempts, m.last_error)
        .where(m.receiver_ean == receiver, m.delivery_state == DeliveryState.PENDING)
        .order_by(m.id)
        .limit(1)
    )


def last_delivered_statement(receiver: str) -> sa.Select[Any]:
    """A receiver's newest delivered message (gw_messages_queue backwards)."""
    return (
        sa.select(m.delivered_at)
        .where(m.receiver_ean == receiver, m.delivery_state == DeliveryState.DELIVERED)
        .order_by(m.id.desc())
        .limit(1)
    )


#: seeks per compound statement: one round trip for many, well under SQLite's 500 terms of a compound SELECT
_TERMS = 120


def batched(statements: Sequence[sa.Select[Any]]) -> list[sa.CompoundSelect[Any] | sa.Select[Any]]:
    """The statements as few round trips: UNION ALL of each one wrapped as a subquery (so that each keeps
    its own ORDER BY and LIMIT, and its own index seek), tagged with its position in column ``seek``."""
    out: list[sa.CompoundSelect[Any] | sa.Select[Any]] = []
    for start in range(0, len(statements), _TERMS):
        terms = []
        for i, stmt in enumerate(statements[start : start + _TERMS], start):
            sub = stmt.subquery()
            terms.append(sa.select(sa.literal(i).label("seek"), *sub.c))
        out.append(terms[0] if len(terms) == 1 else sa.union_all(*terms))
    return out


async def _each(conn: AsyncConnection, statements: Sequence[sa.Select[Any]]) -> list[Any]:
    """The first row (or None) of each statement, in order, in one round trip per _TERMS statements."""
    found: list[Any] = [None] * len(statements)
    for compound in batched(statements):
        for row in (await conn.execute(compound)).all():
            if found[row.seek] is None:
                found[row.seek] = row
    return found


async def _pending_routes(
    conn: AsyncConnection, receivers: Sequence[str]
) -> list[tuple[str, str, str, int, datetime | None]]:
    """(sender, receiver, type, pending count up to the cap + 1, oldest pending) of every group with work.

    A loose index scan in rounds: round one seeks every receiver's first group, each later round the next
    group after the one just found (the next type of the same route, else the next route), all receivers
    in one round trip; then one bounded count per group, again in one round trip. Rounds = the most
    groups any receiver has, plus one: the cost follows routes, never the messages waiting."""
    groups: list[tuple[str, str, str, datetime | None]] = []
    frontier: list[tuple[str, str | None, str | None]] = [(r, None, None) for r in receivers]
    while frontier:
        seeks: list[sa.Select[Any]] = []
        for receiver, sender, mtype in frontier:
            seeks.append(first_pending_statement(receiver, sender, mtype))
            if sender is not None:
                seeks.append(first_pending_statement(receiver, sender))
        rows = await _each(conn, seeks)
        following: list[tuple[str, str | None, str | None]] = []
        k = 0
        for receiver, sender, _mtype in frontier:
            row = rows[k]
            if sender is not None:
                row = row if row is not None else rows[k + 1]
                k += 1
            k += 1
            if row is None:
                continue
            groups.append((row.sender_ean, receiver, row.type, _aware(row.created_at)))
            following.append((receiver, row.sender_ean, row.type))
        frontier = following
    counts = await _each(conn, [pending_count_statement(r, s, t) for s, r, t, _ in groups])
    return [(s, r, t, int(c.n), oldest) for (s, r, t, oldest), c in zip(groups, counts, strict=True)]


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

    Bounded to originals created within ``window`` so the scan rides ``gw_messages_state_created``.
    """
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(m.type, m.delivered_at, m.receipt_at).where(
                    m.state.in_((MessageState.ACKNOWLEDGED, MessageState.REFUSED)),
                    m.created_at >= now - window,
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
