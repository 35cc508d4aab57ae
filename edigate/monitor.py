"""The route health loop: store + delivery worker -> HealthMonitor -> gauges, logs, alerts, incidents.

Every ``[health] interval_seconds`` (default 5) the loop reads the route signals (``store.health_queries``)
and the worker's circuit states, feeds them to :meth:`HealthMonitor.update` and acts on the events:

1. the metrics gauges (route state, queue depth, oldest age, receipts overdue, incidents, outbox);
2. one structlog event per state change;
3. the on-call alert mail (``edigate.alerts``), addressed by the outage procedure's own schedule
   (``OutageProcedure.handled_by``: EDI support inside support hours, otherwise on-call) and sent at any hour
   through the procedure's durable outbox; repeats bounded by :class:`AlertThrottle`; a recovered mail on
   recovery;
4. a *draft* acute incident in the outage procedure (``open_draft_incident``) for a route/receiver that
   went down, with the receiver as the affected organisation, the message types seen pending and the
   first failure as start. ``[health] auto_confirm = true`` confirms it at once. On recovery the
   auto-opened incident is resolved (``resolve_auto_incident``), so its resolved notice goes to whoever
   got notices.

Each action is guarded on its own: a failing mail never stops the incident, nor the loop.

The outage procedure is reached only through :class:`OutageProcedure`, a narrow port in the gateway's own
terms (``notify.gateway_port.GatewayPort`` implements it; ``edigate.app`` connects the two).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from edigate.alerts import AlertFacts, AlertSettings, AlertThrottle, alert_facts, receipts_overdue_facts
from edigate.clock import Clock
from edigate.config import HealthSettings
from edigate.health import EventKind, HealthEvent, HealthMatrix, HealthMonitor, HealthThresholds, route_key
from edigate.metrics import SENT_KIND, GaugeSnapshot, Metrics, QueueGauge
from edigate.store.db import Database
from edigate.store.health_queries import RecentRoutes, StoreSignals, read_new_receipts, read_route_signals
from edigate.store.model import MissingReceiptAlert

__all__ = ["HealthLoop", "HealthLoopSettings", "OutageProcedure"]

log = structlog.get_logger("edigate.monitor")

#: a tick at least this long is logged (`route_health_tick_slow`): the tick runs beside ingest on the same
#: cores, so a slow one is a suspect when answers stall (issue 14's soak)
SLOW_TICK_MS = 50.0


class OutboxState(Protocol):
    """The outage procedure's outbox and open incidents, as the gauges read them."""

    @property
    def pending(self) -> int: ...  # mail rows waiting
    @property
    def failed(self) -> int: ...  # mail rows failed or refused
    @property
    def incidents_open(self) -> Mapping[str, int]: ...  # incident kind -> draft or open
    @property
    def failed_by_kind(self) -> Mapping[tuple[str, str], int]: ...  # (channel, notice kind) -> failed/refused


class OutageProcedure(Protocol):
    """What the health loop asks of the outage procedure (notify), in plain values and the gateway's facts."""

    async def open_draft_incident(
        self,
        *,
        cause: str,
        organisations: Sequence[str],
        message_types: Sequence[str],
        start: datetime,
        confirm: bool,
    ) -> int: ...

    async def open_auto_incident_for(self, receiver: str) -> int | None: ...

    async def widen_auto_incident(self, incident_id: int, organisations: Sequence[str]) -> None: ...

    async def resolve_auto_incident(self, incident_id: int, note: str) -> str | None: ...

    def handled_by(self, at: datetime) -> str: ...

    async def queue_alert_mail(self, facts: AlertFacts) -> bool:
        """Render and queue the alert mail (one outbox row per address, committed before anything is sent);
        False when this mail (same kind, key and time) was queued before."""
        ...

    async def outbox_counts(self) -> OutboxState | None:
        """The outbox and open incidents for the gauges; None when the procedure's tables are unreadable."""
        ...

    async def sent_mail_counts(self) -> Mapping[str, int] | None:
        """Mails sent so far, by the procedure's notice kind (`edigate.metrics.SENT_KIND` maps them); None
        when unreadable."""
        ...

    async def last_alerts(self, key: str) -> tuple[datetime | None, datetime | None]:
        """When the newest alert and recovered mail for a `HealthEvent.key` were queued; (None, None) if never."""
        ...


class CircuitSource(Protocol):
    """The delivery worker, as far as the loop reads it."""

    def circuit_state(self, receiver: str) -> str: ...


@dataclass(frozen=True)
class HealthLoopSettings:
    """``[health]`` (loop keys + :class:`HealthThresholds`) and ``[alerts]``."""

    thresholds: HealthThresholds
    interval_seconds: float = 5.0
    auto_confirm: bool = False
    receipt_window: timedelta = timedelta(hours=1)
    alerts: AlertSettings | None = None

    @classmethod
    def from_sections(cls, health: HealthSettings, alerts: AlertSettings | None) -> HealthLoopSettings:
        return cls(health.thresholds(), health.interval_seconds, health.auto_confirm, health.receipt_window, alerts)


class HealthLoop:
    """Keeps the monitor, the alert throttle and the event -> incident links between ticks."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        receivers: Sequence[str],
        settings: HealthLoopSettings,
        worker: CircuitSource | None = None,
        metrics: Metrics | None = None,
        outage: OutageProcedure | None = None,
        names: Mapping[str, str] | None = None,
        type_names: Mapping[str, str] | None = None,
        status_url: str | None = None,
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.receivers = list(receivers)
        self.settings = settings
        self.worker = worker
        self.metrics = metrics
        self.outage = outage
        self.names = dict(names or {})
        self.type_names = dict(type_names or {})
        self.status_url = status_url
        self.monitor = HealthMonitor(settings.thresholds)
        self.throttle = AlertThrottle.from_settings(settings.alerts) if settings.alerts else None
        self.incidents: dict[str, int] = {}  # HealthEvent.key -> auto-opened incident id
        self.ticks = 0
        self._warned_no_outbox = False
        self._receipts_after: datetime | None = None  # receipts up to here are in the latency histogram
        self._sent_seen: dict[str, int] | None = None  # outbox mails already counted, by notice kind
        self._alerts_recalled: set[str] = set()  # keys whose earlier alert mails were looked up
        #: two instances on one database: only the leader mails alerts and opens/resolves incidents
        self.is_leader = is_leader or (lambda: True)
        self._acting = True
        self._ack_alerts: list[MissingReceiptAlert] = []  # receipts overdue past the alert time, mailed next tick
        self._recent_routes = RecentRoutes()  # routes with healthy traffic: each tick reads only the new rows

    # ------------------------------------------------------------------------------------------ the loop

    @property
    def matrix(self) -> HealthMatrix:
        return self.monitor.snapshot()

    async def run(self, first_pass: asyncio.Event | None = None) -> None:
        """Tick until cancelled; `first_pass` is set after the first tick (the service answers after it)."""
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("route_health_tick_failed", error=type(exc).__name__, detail=str(exc)[:200])
            if first_pass is not None:
                first_pass.set()
            await asyncio.sleep(self.settings.interval_seconds)

    async def tick(self) -> list[HealthEvent]:
        """One pass: read, update, act. Returns the events of this pass."""
        started = time.perf_counter()
        now = self.clock()
        circuits = {}
        if self.worker is not None:
            circuits = {r: self.worker.circuit_state(r) for r in self.receivers}
        signals = await read_route_signals(
            self.database,
            self.receivers,
            now,
            receipt_window=self.settings.receipt_window,
            circuits=circuits,
            recent_routes=self._recent_routes,
        )
        read_ms = (time.perf_counter() - started) * 1000
        leading = self.is_leader()
        if leading and not self._acting:
            self._take_over()
        self._acting = leading
        events = self.monitor.update(signals.routes, now)
        for event in events if leading else ():  # a follower keeps the matrix current, acts on nothing
            await self._act(event, now)
        if self.throttle is not None and leading:
            for due in self.throttle.due_reminders(now):
                fresh = self.monitor.current(due.key) or due
                await self._alert(fresh, now, reminder=True)
        if leading:
            await self._guard("ack_alert_mail_failed", self._mail_ack_alerts(now))
        await self._refresh_gauges(signals, now)
        await self._observe_receipts(now)
        await self._count_sent_mails()
        self.ticks += 1
        tick_ms = (time.perf_counter() - started) * 1000
        if tick_ms >= SLOW_TICK_MS:
            log.warning("route_health_tick_slow", ms=round(tick_ms, 1), read_ms=round(read_ms, 1))
        return events

    def _take_over(self) -> None:
        """Just became the leader: forget what was seen as a follower, so a route that is down now is an
        event again; the earlier leader's alert mails and incidents are found in the database as after a
        restart (`_announced_before_restart`, `OutageProcedure.open_auto_incident_for`)."""
        self.monitor = HealthMonitor(self.settings.thresholds)
        self.throttle = AlertThrottle.from_settings(self.settings.alerts) if self.settings.alerts else None
        self.incidents.clear()
        self._alerts_recalled.clear()

    async def _count_sent_mails(self) -> None:
        """Mails actually sent (SMTP 250) since the last tick, by kind; counted from this start on."""
        if self.metrics is None or self.outage is None:
            return
        counts = await self.outage.sent_mail_counts()
        if counts is None:
            return
        if self._sent_seen is not None:
            for kind, count in counts.items():
                delta = count - self._sent_seen.get(kind, 0)
                sent_kind = SENT_KIND.get(kind)
                if delta > 0 and sent_kind is not None:
                    self.metrics.notice_sent(sent_kind, delta)
        self._sent_seen = dict(counts)

    async def _observe_receipts(self, now: datetime) -> None:
        """Receipt latency per original type, from the store (restart: counts from the start on)."""
        if self.metrics is None:
            return
        if self._receipts_after is None:
            self._receipts_after = now
            return
        seen = await read_new_receipts(self.database, self._receipts_after, now)
        for receipt in seen:
            self.metrics.receipt_received(receipt.message_type, receipt.latency_seconds)
        if seen:
            self._receipts_after = max(r.receipt_at for r in seen)

    # ------------------------------------------------------------------------------------------ actions

    async def _act(self, event: HealthEvent, now: datetime) -> None:
        self._log(event)
        incident_id: int | None = None
        if event.is_down:
            incident_id = await self._guard("incident_open_failed", self._open_incident(event))
        elif event.is_recovery:
            incident_id = self.incidents.get(event.key)
        await self._guard("alert_failed", self._alert(event, now, incident_id=incident_id))
        if event.is_recovery:
            await self._guard("incident_resolve_failed", self._recovered(event))

    async def _guard(self, what: str, coro: Awaitable[Any]) -> Any:
        try:
            return await coro
        except Exception as exc:
            log.error(what, error=type(exc).__name__, detail=str(exc)[:200])
            return None

    def _log(self, event: HealthEvent) -> None:
        routes = [route_key(*r) for r in event.routes]
        fields: dict[str, Any] = {
            "route": routes[0] if len(routes) == 1 else f"*->{event.receiver}",
            "receiver": event.receiver,
            "state": str(event.state),
            "since": event.since.isoformat(),
            "pending_count": event.pending_count,
            "message_types": list(event.message_types),
            "reasons": [r.code for r in event.reasons],
        }
        if len(routes) > 1 or event.kind in (EventKind.RECEIVER_DOWN, EventKind.RECEIVER_RECOVERED):
            fields["routes"] = routes
        if event.still_down:
            fields["still_down"] = [route_key(*r) for r in event.still_down]
        if event.duration is not None:
            fields["duration_s"] = round(event.duration.total_seconds(), 1)
        if event.last_error and event.is_down:
            fields["last_error"] = event.last_error
        level = log.error if event.is_down else log.warning if event.kind is EventKind.DEGRADED else log.info
        level(str(event.kind), **fields)

    # ---- incidents

    async def _open_incident(self, event: HealthEvent) -> int | None:
        if self.outage is None:
            return None
        scope = self._scope(event)
        # an automatic incident still open for this receiver (this process's, or after a restart an earlier
        # one's): one receiver never gets two incidents at once; the procedure's storage is the one answer
        existing = await self.outage.open_auto_incident_for(event.receiver)
        if existing is not None:
            self.incidents[event.key] = existing
            await self._widen(existing, scope)
            return existing
        incident_id = await self.outage.open_draft_incident(
            cause=self._cause(event),
            organisations=scope,
            message_types=list(event.message_types),
            start=event.since,
            confirm=self.settings.auto_confirm,
        )
        self.incidents[event.key] = incident_id
        log.warning(
            "incident_draft_opened",
            incident_id=incident_id,
            receiver=event.receiver,
            route=self._route_field(event),
        )
        if self.settings.auto_confirm:
            log.warning("incident_auto_confirmed", incident_id=incident_id)
        return incident_id

    def _scope(self, event: HealthEvent) -> list[str]:
        """Who an automatic incident concerns: the failed receiver and every organisation with traffic on
        the affected routes (the hospitals that send to a failed municipality must phone its duty phone at
        discharge). The lists' rules then pick each organisation's functional mailbox."""
        senders = [sender for sender, _ in event.routes if sender != event.receiver]
        return list(dict.fromkeys([event.receiver, *senders]))

    async def _widen(self, incident_id: int, scope: Sequence[str]) -> None:
        """A further route into the same receiver went down: its sender joins the incident's scope."""
        if self.outage is not None:
            await self.outage.widen_auto_incident(incident_id, scope)

    def _cause(self, event: HealthEvent) -> str:
        receiver = self.names.get(event.receiver, event.receiver)
        if event.kind is EventKind.RECEIVER_DOWN:
            what = f"{receiver} modtager ikke EDI-meddelelser (alle ruter ind til modtageren er nede)"
        else:
            sender = self.names.get(event.routes[0][0], event.routes[0][0]) if event.routes else "?"
            what = f"EDI-meddelelser fra {sender} til {receiver} bliver ikke leveret"
        reasons = "; ".join(r.text for r in event.reasons[:3])
        return f"Automatisk registreret af edigate: {what}." + (f" Målt: {reasons}." if reasons else "")

    async def _recovered(self, event: HealthEvent) -> None:
        incident_id = self.incidents.pop(event.key, None)
        if event.kind is EventKind.RECEIVER_RECOVERED:
            for route in event.routes:
                self.incidents.pop(f"route:{route_key(*route)}", None)
            if incident_id is not None:
                for route in event.still_down:  # still down on their own: the incident stays theirs
                    self.incidents[f"route:{route_key(*route)}"] = incident_id
        if incident_id is None or self.outage is None:
            return
        if incident_id in self.incidents.values():
            return  # another route of the same incident is still down
        state = await self.outage.resolve_auto_incident(
            incident_id, "Forbindelsen virker igen; edigate leverer meddelelserne."
        )
        log.info(
            "incident_auto_resolved",
            incident_id=incident_id,
            route=self._route_field(event),
            state=state,
        )

    # ---- alert mails

    async def _alert(
        self, event: HealthEvent, now: datetime, *, reminder: bool = False, incident_id: int | None = None
    ) -> None:
        if self.throttle is None or self.settings.alerts is None:
            return
        if not reminder and event.is_down and await self._announced_before_restart(event, now):
            return
        if not reminder and not self.throttle.admit(event, now):
            return
        if self.outage is None:
            if not self._warned_no_outbox:
                log.error("alert_not_sent", reason="no outbox: the outage procedure ([notify]) is not set up")
                self._warned_no_outbox = True
            return
        facts = alert_facts(
            event,
            now=now,
            handled_by=self.outage.handled_by,
            recipients=self.settings.alerts.recipients,
            names=self.names,
            type_names=self.type_names,
            reminder=reminder,
            subject_prefix=self.settings.alerts.subject_prefix,
            status_url=self.status_url,
            draft_incident=incident_id is not None,
            # the draft is confirmed (or closed) from its page, linked from the mail while the outage lasts
            incident_id=incident_id if incident_id is not None else self.incidents.get(event.key),
        )
        await self._send(facts)

    async def _announced_before_restart(self, event: HealthEvent, now: datetime) -> bool:
        """After a restart the throttle is empty: if this outage's alert went out (by an earlier process)
        less than a repeat interval ago and was not followed by a recovered mail, count it as sent (so the
        recovered mail and the reminders still follow) instead of mailing on-call twice."""
        if event.key in self._alerts_recalled or self.throttle is None or self.outage is None:
            return False
        self._alerts_recalled.add(event.key)
        down, recovered = await self.outage.last_alerts(event.key)
        if down is None or (recovered is not None and recovered >= down):
            return False
        if now - down >= self.throttle.repeat_interval:
            return False
        self.throttle.admit(event, down)  # records it as announced at `down`
        log.info("alert_already_sent", key=event.key, sent_at=down.isoformat())
        return True

    async def _send(self, facts: AlertFacts) -> None:
        """Through the procedure's durable outbox: the row is committed before anything is sent; no window."""
        if self.outage is None:
            return
        if not await self.outage.queue_alert_mail(facts):
            return
        log.info(
            "alert_mail_queued",
            kind=str(facts.kind),
            handled_by=facts.handled_by,
            key=facts.key,
            recipients=len(facts.to),
            incident_id=facts.incident_id,
        )

    # ---- receipts overdue past the alert time

    async def missing_receipt_alert(self, alert: MissingReceiptAlert) -> None:
        """The receipt sweep's hook: a MedCom receipt (pluspositivkvitt) still missing after ``ack_alert_minutes``."""
        self._ack_alerts.append(alert)

    async def _mail_ack_alerts(self, now: datetime) -> None:
        """One mail per route to EDI support (in its hours) or on-call, with the route and the count of
        messages whose receipt is missing: never a CPR, a name or a body, only types and counts."""
        alerts, self._ack_alerts = self._ack_alerts, []
        if not alerts or self.settings.alerts is None or self.outage is None:
            return
        handler = self.outage.handled_by(now)
        to = self.settings.alerts.recipients.get(handler)
        addresses = (to,) if isinstance(to, str) else tuple(to or ())
        if not addresses:
            return
        for facts in receipts_overdue_facts(
            alerts,
            now=now,
            handler=handler,
            to=addresses,
            names=self.names,
            type_names=self.type_names,
            subject_prefix=self.settings.alerts.subject_prefix,
            status_url=self.status_url,
        ):
            await self._send(facts)

    # ---- gauges

    async def _refresh_gauges(self, signals: StoreSignals, now: datetime) -> None:
        if self.metrics is None:
            return
        changes: dict[str, Any] = {
            "queues": {r: QueueGauge(depth, oldest) for r, (depth, oldest) in signals.queues.items()},
            "receipts_overdue": dict(signals.receipts_overdue),
            "route_states": self.matrix.states(),
        }
        counts = await self.outage.outbox_counts() if self.outage is not None else None
        if counts is not None:
            changes.update(
                incidents_open=dict(counts.incidents_open),
                mail_outbox_pending=counts.pending,
                mail_outbox_failed=counts.failed,
                outbox_failed=dict(counts.failed_by_kind),
            )
        fields = {**_snapshot_fields(self.metrics), **changes}
        self.metrics.set_snapshot(GaugeSnapshot(**fields, taken_at=now))

    @staticmethod
    def _route_field(event: HealthEvent) -> str:
        return route_key(*event.routes[0]) if len(event.routes) == 1 else f"*->{event.receiver}"


def _snapshot_fields(metrics: Metrics) -> dict[str, Any]:
    snap = metrics.snapshot
    return {
        "queues": snap.queues,
        "receipts_overdue": snap.receipts_overdue,
        "route_states": snap.route_states,
        "incidents_open": snap.incidents_open,
        "mail_outbox_pending": snap.mail_outbox_pending,
        "mail_outbox_failed": snap.mail_outbox_failed,
        "outbox_failed": snap.outbox_failed,
    }
