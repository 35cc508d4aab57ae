"""The delivery worker: one FIFO per receiver, retry with backoff, per-receiver circuit, dead letters.

The worker leases receiver queues in the store (shared fairly between instances on PostgreSQL) and runs
one drain task per leased receiver. A drain task sends that receiver's messages strictly in id order:
when the head fails, nothing behind it is sent until it is delivered or dead-lettered, so a correction
never overtakes its original. Successful deliveries are marked in small batches (one commit per batch);
a crash between the POST and that commit means the message is sent again after restart (at-least-once;
MedCom receivers de-duplicate on envelope id).

Startup recovery is the lease itself: a queue leased by a dead process is free again once its lease
runs out, and whatever it had not marked delivered is still `pending`.

A lease that this instance could not renew in time (its database round trip stalled, its event loop was
starved) may be another instance's already: a drain stops sending, with its "delivered" marks committed,
once the last renewal is older than the lease minus one renewal period, and goes on when the dispatcher
has renewed it. Without that, both instances sent the head of the queue (a duplicate at the receiver).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from edigate.clock import Clock
from edigate.config import DeliverySettings, Partner
from edigate.delivery.failure_receipt import failure_receipt
from edigate.delivery.policy import Circuit, backoff_delay, dead_letter_reason
from edigate.delivery.transports import (
    DeliveryError,
    DirectoryTransport,
    HttpTransport,
    PermanentDeliveryError,
    Transport,
)
from edigate.store.messages import MessageStore
from edigate.store.model import GeneratedReceipt, QueuedMessage

log = structlog.get_logger()

# At most this long / this many successful POSTs before their "delivered" commit: what a crash can make
# us send twice (measured by the crash test) against one commit per message (which halves the drain rate
# when the disk is slow).
FLUSH_EVERY = 0.02
FLUSH_MAX = 16

DeliveryListener = Callable[[str, bool, str | None], None]  # (receiver EAN, ok, error) -> None
# (receiver EAN, outcome: delivered | failed | dead_letter, seconds of the attempt or None) -> None
DeliveryObserver = Callable[[str, str, float | None], None]


class DeliveryWorker:
    def __init__(
        self,
        store: MessageStore,
        partners: tuple[Partner, ...],
        settings: DeliverySettings,
        clock: Clock,
        *,
        gateway_ean: str | None = None,
    ) -> None:
        self.store = store
        #: who the sender's negative receipt for a dead letter comes from (else the original receiver)
        self.gateway_ean = gateway_ean
        self.settings = settings
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.partners = {p.ean: p for p in partners if p.delivery.kind in ("http", "directory")}
        self.circuits = {
            ean: Circuit(settings.circuit_failure_threshold, settings.circuit_open_seconds) for ean in self.partners
        }
        self.listeners: list[DeliveryListener] = []  # health signals (the route health monitor subscribes)
        self.observers: list[DeliveryObserver] = []  # metrics: outcome and duration of every attempt
        self._wake = {ean: asyncio.Event() for ean in self.partners}
        self._owned: set[str] = set()
        self._drains: dict[str, asyncio.Task[None]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._transports: dict[str, Transport] = {}
        self._stopping = False
        self._claimed_once = asyncio.Event()  # the first lease round is over
        self._read_once = {ean: asyncio.Event() for ean in self.partners}  # a drain read its queue once
        #: per leased receiver, the monotonic time until which this instance surely still holds its lease
        self._lease_ends: dict[str, float] = {}

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.store.ensure_queues(sorted(self.partners))
        recovered = await self.store.recover_queues()
        if recovered:
            log.warning("delivery_queues_recovered", queues=recovered, reason="left leased by a stopped process")
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch(), name="delivery-dispatcher")

    async def stop(self) -> None:
        self._stopping = True
        for ev in self._wake.values():
            ev.set()
        tasks = [t for t in (self._dispatcher, *self._drains.values()) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        for tr in self._transports.values():
            await tr.close()
        with contextlib.suppress(Exception):
            await self.store.release_queues(self.owner)

    @property
    def running(self) -> bool:
        return self._dispatcher is not None and not self._dispatcher.done()

    async def first_reads(self) -> None:
        """Returns once the first lease round is over and every queue it leased was read once: the service
        answers after this, so its first messages do not pay for the worker's first claims and reads."""
        await self._claimed_once.wait()
        await asyncio.gather(*(self._read_once[r].wait() for r in self._owned))

    def wake(self, receivers: tuple[str, ...] | list[str]) -> None:
        for r in receivers:
            ev = self._wake.get(r)
            if ev is not None:
                ev.set()

    def circuit_state(self, receiver: str) -> str:
        c = self.circuits.get(receiver)
        return c.state(time.monotonic()) if c else "closed"

    # ------------------------------------------------------------------------------ dispatch

    async def _dispatch(self) -> None:
        lease = self.settings.worker_lease_seconds
        renew_every = self._renew_every()
        while not self._stopping:
            asked = time.monotonic()  # the store's lease_until is counted from no earlier than this
            try:
                owned = set(await self.store.claim_queues(self.owner, sorted(self.partners), lease))
            except Exception as exc:
                log.warning("delivery_claim_failed", error=type(exc).__name__)
                owned = set()
            self._lease_ends = {r: asked + lease - renew_every for r in owned}
            lost = self._owned - owned
            for r in lost:
                task = self._drains.pop(r, None)
                if task:
                    task.cancel()
                log.info("delivery_queue_released", route=r)
            for r in owned - self._owned:
                log.info("delivery_queue_claimed", route=r, owner=self.owner)
            self._owned = owned
            for r in owned:
                task = self._drains.get(r)
                if task is None or task.done():
                    self._drains[r] = asyncio.get_running_loop().create_task(self._drain(r), name=f"drain-{r}")
            self._claimed_once.set()
            await asyncio.sleep(renew_every)

    def _renew_every(self) -> float:
        return max(0.2, min(self.settings.worker_lease_seconds / 3, 5.0))

    def _holds_lease(self, receiver: str) -> bool:
        """True while the last renewal of `receiver`'s lease is recent enough that no other instance can
        have taken the queue (one renewal period of margin for a delivery and its mark in flight)."""
        return time.monotonic() < self._lease_ends.get(receiver, 0.0)

    def _transport(self, receiver: str) -> Transport:
        tr = self._transports.get(receiver)
        if tr is None:
            target = self.partners[receiver].delivery
            if target.kind == "http":
                assert target.url is not None
                tr = HttpTransport(target.url, self.settings.http_timeout_seconds)
            else:
                assert target.path is not None
                tr = DirectoryTransport(target.path)
            self._transports[receiver] = tr
        return tr

    async def _idle(self, receiver: str, seconds: float) -> None:
        ev = self._wake[receiver]
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancel that arrives in the same loop
        # pass as the wake-up, and the drain loop then outlives stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await ev.wait()
        ev.clear()

    # ------------------------------------------------------------------------------ one receiver

    async def _drain(self, receiver: str) -> None:
        transport = self._transport(receiver)
        circuit = self.circuits[receiver]
        poll = self.settings.poll_interval_seconds
        mark_pause = 0.0  # grows while "delivered" cannot be committed (disk full, database away)
        while not self._stopping and receiver in self._owned:
            if not self._holds_lease(receiver):
                log.warning("delivery_paused", route=receiver, reason="lease_not_renewed")
                while not self._stopping and receiver in self._owned and not self._holds_lease(receiver):
                    await asyncio.sleep(min(poll, self._renew_every() / 2))
                continue
            self._wake[receiver].clear()
            try:
                batch = await self.store.next_messages(receiver, self.settings.batch_size)
            except Exception as exc:
                log.warning("delivery_queue_read_failed", route=receiver, error=type(exc).__name__)
                self._read_once[receiver].set()
                await self._idle(receiver, poll)
                continue
            self._read_once[receiver].set()
            if not batch:
                await self._idle(receiver, poll)
                continue
            marks = _DeliveredMarks(self.store)
            try:
                for msg in batch:
                    now = self.clock()
                    if msg.next_attempt_at is not None and msg.next_attempt_at > now:
                        # the head is backing off: FIFO means everything behind it waits too
                        await marks.flush()
                        await asyncio.sleep(min(poll, (msg.next_attempt_at - now).total_seconds()))
                        break
                    wait = circuit.wait(time.monotonic())
                    if wait > 0:
                        await marks.flush()
                        await asyncio.sleep(min(poll, wait))
                        break
                    reason = await self._give_up_reason(msg, msg.attempts, now)
                    if reason is not None:
                        await marks.flush()
                        await self.store.record_failure(
                            msg.id, reason, None, dead=True, receipt=self._failure_receipt(msg)
                        )
                        self._observe(receiver, "dead_letter", None)
                        log.warning(
                            "message_failed",
                            message_id=msg.id,
                            envelope_id=msg.envelope_id,
                            route=receiver,
                            reason=reason,
                        )
                        continue
                    if not self._holds_lease(receiver):
                        break  # renewal overdue: the queue may be another instance's any moment
                    attempt_started = time.perf_counter()
                    try:
                        note = await transport.deliver(msg)
                    except PermanentDeliveryError as exc:
                        # cannot be sent by construction: a dead letter now, and FIFO goes on behind it
                        await marks.flush()
                        await self._dead_letter(msg, receiver, str(exc))
                        continue
                    except Exception as exc:
                        # DeliveryError, or anything unexpected: one failed attempt, never a dead drain task
                        error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}"
                        self._observe(receiver, "failed", time.perf_counter() - attempt_started)
                        await marks.flush()
                        await self._failed(msg, receiver, circuit, error)
                        break
                    self._observe(receiver, "delivered", time.perf_counter() - attempt_started)
                    circuit.success()
                    marks.add(msg.id)
                    self._notify(receiver, True, None)
                    log.info(
                        "message_delivered",
                        message_id=msg.id,
                        envelope_id=msg.envelope_id,
                        route=receiver,
                        via=note,
                    )
                    marks.kick_if_due()
                    if marks.failed:
                        break  # stop sending what we cannot record as sent
            finally:
                await asyncio.shield(marks.flush())
            if marks.failed:
                # Without this pause the same batch is read and POSTed again at once, for as long as the
                # store cannot commit: a resend storm at the receiver.
                mark_pause = min(max(mark_pause * 2, 0.5), 30.0)
                log.warning("delivery_paused", route=receiver, reason="delivered_mark_failed", seconds=mark_pause)
                await asyncio.sleep(mark_pause)
            else:
                mark_pause = 0.0

    async def _dead_letter(self, msg: QueuedMessage, receiver: str, error: str) -> None:
        """Not the receiver's fault: its circuit and health stay as they are; the route lists the letter."""
        await self.store.record_failure(msg.id, error, None, dead=True, receipt=self._failure_receipt(msg))
        self._observe(receiver, "dead_letter", None)
        log.warning(
            "message_failed",
            message_id=msg.id,
            envelope_id=msg.envelope_id,
            route=receiver,
            reason=error,
            permanent=True,
        )

    async def _failed(self, msg: QueuedMessage, receiver: str, circuit: Circuit, error: str) -> None:
        attempts = msg.attempts + 1
        now = self.clock()
        reason = await self._give_up_reason(msg, attempts, now)
        opened = circuit.failure(time.monotonic())
        delay = backoff_delay(attempts, self.settings)
        if opened:
            delay = max(delay, self.settings.circuit_open_seconds)
        dead = reason is not None
        await self.store.record_failure(
            msg.id,
            f"{error}; {reason}" if dead else error,
            None if dead else now + timedelta(seconds=delay),
            dead=dead,
            receipt=self._failure_receipt(msg) if dead else None,
        )
        self._notify(receiver, False, error)
        if dead:
            self._observe(receiver, "dead_letter", None)
        log.warning(
            "message_failed" if dead else "delivery_attempt_failed",
            message_id=msg.id,
            envelope_id=msg.envelope_id,
            route=receiver,
            attempt=attempts,
            error=error,
            retry_in_s=None if dead else round(delay, 2),
            circuit=circuit.state(time.monotonic()),
        )

    def _failure_receipt(self, msg: QueuedMessage) -> GeneratedReceipt | None:
        """The sender is told when its message finally fails (a sender never told assumes delivery)."""
        return failure_receipt(msg.body, now=self.clock(), gateway_ean=self.gateway_ean)

    async def _give_up_reason(self, msg: QueuedMessage, attempts: int, now: datetime) -> str | None:
        """`dead_letter_reason`, with the age of a re-queued dead letter counted from its retry: a message
        the desk retries gets a fresh age, instead of failing again within a minute."""
        reason = dead_letter_reason(attempts, msg.created_at, now, self.settings)
        if reason is None or attempts >= self.settings.max_attempts:
            return reason
        retried = await self.store.last_retry_at(msg.id)
        if retried is None:
            return reason
        return dead_letter_reason(attempts, max(retried, msg.created_at), now, self.settings)

    def _observe(self, receiver: str, outcome: str, seconds: float | None) -> None:
        for observer in self.observers:
            try:
                observer(receiver, outcome, seconds)
            except Exception as exc:  # an observer must never stop delivery
                log.warning("delivery_observer_failed", error=type(exc).__name__)

    def _notify(self, receiver: str, ok: bool, error: str | None) -> None:
        for listener in self.listeners:
            try:
                listener(receiver, ok, error)
            except Exception as exc:  # a listener must never stop delivery
                log.warning("delivery_listener_failed", error=type(exc).__name__)


class _DeliveredMarks:
    """Commits "delivered" for a receiver in the background while its next POSTs go out (one commit
    at a time, every FLUSH_MAX messages or FLUSH_EVERY seconds). A crash loses at most these marks, and
    those messages are sent again: at-least-once."""

    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self.pending: list[int] = []
        self.task: asyncio.Task[None] | None = None
        self.last = time.monotonic()
        self.failed = False

    def add(self, mid: int) -> None:
        self.pending.append(mid)

    def kick_if_due(self) -> None:
        due = len(self.pending) >= FLUSH_MAX or time.monotonic() - self.last > FLUSH_EVERY
        if self.pending and due and (self.task is None or self.task.done()):
            ids, self.pending = self.pending, []
            self.last = time.monotonic()
            self.task = asyncio.get_running_loop().create_task(self._mark(ids))

    async def _mark(self, ids: list[int]) -> None:
        try:
            await self.store.mark_delivered(ids, "delivered")
        except Exception as exc:  # they stay pending and are sent again: never lost
            self.failed = True
            log.warning("delivered_mark_failed", messages=len(ids), error=type(exc).__name__)

    async def flush(self) -> None:
        if self.task is not None:
            await self.task
            self.task = None
        if self.pending:
            ids, self.pending = self.pending, []
            self.last = time.monotonic()
            await self._mark(ids)
