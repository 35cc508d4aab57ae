"""Prometheus metrics for edigate, in a registry of their own.

Each :class:`Metrics` owns a ``CollectorRegistry`` (never the process-global one), so tests can build several
apps in one process. Label values are bounded: organisations must be EANs (or names) from the partner
directory and message types from the catalogue handed in; anything else is counted as ``unknown``. Outcomes
and kinds come from the fixed vocabularies below. No label ever carries personal data.

Two kinds of values:

* **Events** (counters, histograms) are recorded on the hot path by the code that sees them:
  :meth:`Metrics.message_received`, :meth:`Metrics.delivery_finished`, … Label children are resolved once
  and cached, so an increment is a dict lookup plus a locked add.
* **State** (queue depth, oldest pending age, route states, open incidents, outbox, receipts overdue) is
  read from a :class:`GaugeSnapshot` at scrape time by a custom collector. The app refreshes the snapshot
  periodically (:meth:`Metrics.refresh_forever` with an async fetch function, or :meth:`Metrics.update_gauges`
  from whichever task already has the numbers). Ages are computed at scrape time from the snapshot's
  timestamps, so they keep growing between refreshes; series of receivers/routes that left the snapshot
  disappear instead of going stale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

import edigate
from edigate.health import PENDING_COUNT_CAP

__all__ = [
    "CONTENT_TYPE",
    "DELIVERY_OUTCOMES",
    "INCIDENT_KINDS",
    "NOTICE_KINDS",
    "RECEIVED_OUTCOMES",
    "ROUTE_STATES",
    "SENT_KIND",
    "UNKNOWN",
    "GaugeSnapshot",
    "Metrics",
    "NullMetrics",
    "QueueGauge",
]

# The classic text format every Prometheus 2.x understands (Debian's is 2.42); our names need nothing newer.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNKNOWN = "unknown"

#: outcome of an incoming message at the gateway
RECEIVED_OUTCOMES = (
    "accepted",  # stored, 202
    "duplicate",  # same envelope + letter seen: same receipt returned
    "resend",  # letter seen with a new envelope: original receipt returned again
    "invalid",  # schema/syntax error: XCTL02 syntaksfejl
    "refused",  # other refusal (unknown receiver, version …)
    "unauthorized",  # bad or missing token / sender not the client's
    "error",  # internal error
)
#: outcome of one delivery attempt to a receiver
DELIVERY_OUTCOMES = ("delivered", "failed", "timeout", "refused", "dead_letter")
#: notify's outbox notice kinds (the procedure's notices, its confirmations and the IT alerts) -> the
#: notices-sent counter's kind; None: a mail the counter leaves out (a subscription's confirm mail). The one
#: place the gateway knows these kinds: the outbox gauge's labels are its keys, the counter's its values.
SENT_KIND: Mapping[str, str | None] = {
    "first": "notice",
    "combined": "notice",
    "update": "update",
    "resolved": "resolved",
    "reminder": "reminder",
    "receipt": "receipt",
    "reporter-resolved": "resolved",
    "confirm": None,
    "alert": "alert",
    "alert-degraded": "alert",
    "alert-reminder": "reminder",
    "alert-recovered": "recovered",
}
#: mails/notices from the outage procedure and the on-call alerts
NOTICE_KINDS = tuple(dict.fromkeys(kind for kind in SENT_KIND.values() if kind))
INCIDENT_KINDS = ("acute", "planned")
# the outage procedure's login throttle: a wrong access key, a lock-out begun, an attempt refused while locked
LOGIN_EVENTS = ("wrong_key", "lockout", "throttled")
ROUTE_STATES = ("ok", "degraded", "down")
#: notify's outbox: channels and the notice kinds of its rows
OUTBOX_CHANNELS = ("mail", "webhook")
OUTBOX_NOTICE_KINDS = tuple(SENT_KIND)

_DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_RECEIPT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 5400.0, 7200.0, 14400.0)
_VALIDATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

_log = logging.getLogger("edigate.metrics")


@dataclass(frozen=True)
class QueueGauge:
    """The delivery queue of one receiver."""

    depth: int
    oldest_pending_at: datetime | None = None


@dataclass(frozen=True)
class GaugeSnapshot:
    """State the gauges report at scrape time. Keys are receiver/sender EANs (or directory names)."""

    queues: Mapping[str, QueueGauge] = field(default_factory=dict)
    receipts_overdue: Mapping[str, int] = field(default_factory=dict)  # receiver -> count
    route_states: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (sender, receiver) -> state
    incidents_open: Mapping[str, int] = field(default_factory=dict)  # incident kind -> count
    mail_outbox_pending: int = 0
    mail_outbox_failed: int = 0
    #: (channel, notice kind) -> outbox rows that will not be sent (failed or refused); never an address
    outbox_failed: Mapping[tuple[str, str], int] = field(default_factory=dict)
    taken_at: datetime | None = None


def _system_now() -> datetime:
    return datetime.now(UTC)


class _Bounded:
    """Maps a raw label value to itself when it is known, else to ``unknown``."""

    __slots__ = ("_known",)

    def __init__(self, known: Iterable[str]) -> None:
        self._known = {v: v for v in known if v}

    def __call__(self, value: str | None) -> str:
        if value is None:
            return UNKNOWN
        return self._known.get(value, UNKNOWN)

    def __contains__(self, value: object) -> bool:
        return value in self._known


class Metrics:
    """All of edigate's metrics; one instance per app."""

    def __init__(
        self,
        known_eans: Iterable[str],
        known_types: Iterable[str],
        *,
        organisation_names: Mapping[str, str] | None = None,
        version: str | None = None,
        clock: Callable[[], datetime] = _system_now,
    ) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call] # the *_created series double /metrics and nothing here reads them
        self.registry = CollectorRegistry(auto_describe=True)
        self.org = _Bounded(known_eans)
        self.type = _Bounded(known_types)
        self.received_outcome = _Bounded(RECEIVED_OUTCOMES)
        self.delivery_outcome = _Bounded(DELIVERY_OUTCOMES)
        self.notice_kind = _Bounded(NOTICE_KINDS)
        self.incident_kind = _Bounded(INCIDENT_KINDS)
        self.outbox_channel = _Bounded(OUTBOX_CHANNELS)
        self.outbox_notice = _Bounded(OUTBOX_NOTICE_KINDS)
        self._clock = clock
        self._snapshot = GaugeSnapshot()
        self._snapshot_at: datetime | None = None
        r = self.registry

        self.messages_received = Counter(
            "edigate_messages_received",
            "MedCom messages received, by type, sender, receiver and outcome.",
            ["type", "sender", "receiver", "outcome"],
            registry=r,
        )
        self.deliveries = Counter(
            "edigate_deliveries",
            "Delivery attempts to receivers, by outcome.",
            ["receiver", "outcome"],
            registry=r,
        )
        self.delivery_duration = Histogram(
            "edigate_delivery_duration_seconds",
            "Duration of one delivery attempt (transport round trip), per receiver.",
            ["receiver"],
            buckets=_DELIVERY_BUCKETS,
            registry=r,
        )
        self.receipt_latency = Histogram(
            "edigate_receipt_latency_seconds",
            "Time from delivery of a message to the receipt (XCTL03/XCTL02) for it, per original type.",
            ["type"],
            buckets=_RECEIPT_BUCKETS,
            registry=r,
        )
        self.validation_duration = Histogram(
            "edigate_validation_duration_seconds",
            "Time to parse and schema-validate an incoming message, per type.",
            ["type"],
            buckets=_VALIDATION_BUCKETS,
            registry=r,
        )
        self.dead_letters = Counter(
            "edigate_dead_letters",
            "Messages given up on (attempts or age exhausted), per receiver.",
            ["receiver"],
            registry=r,
        )
        self.notices_sent = Counter(
            "edigate_notices_sent",
            "Mails sent by the outage procedure and on-call alerting, by kind.",
            ["kind"],
            registry=r,
        )
        self.login_events = Counter(
            "edigate_login_events",
            "The outage procedure's login form: wrong access keys, lock-outs begun, attempts refused while "
            "locked out (per process; never the address or the key).",
            ["event"],
            registry=r,
        )
        self.up = Gauge("edigate_up", "1 while the gateway is serving.", registry=r)
        self.up.set(1)
        if version is None:
            version = edigate.__version__
        Info("edigate_build", "Build information.", registry=r).info({"version": version})
        partner = Gauge(
            "edigate_partner_info",
            "Partner directory: EAN to organisation name (join on the ean label).",
            ["ean", "organisation"],
            registry=r,
        )
        for ean in self.org._known:  # zero series exist from the start, so increase() sees the first one
            self.dead_letters.labels(ean)
        for kind in NOTICE_KINDS:
            self.notices_sent.labels(kind)
        for event in LOGIN_EVENTS:
            self.login_events.labels(event)
        for ean, name in (organisation_names or {}).items():
            if ean in self.org:
                partner.labels(ean, name).set(1)
        r.register(_SnapshotCollector(self))

        self._received_children: dict[tuple[str | None, str | None, str | None, str], Any] = {}
        self._delivery_children: dict[tuple[str | None, str], tuple[Any, Any]] = {}
        self._receipt_children: dict[str | None, Any] = {}
        self._validation_children: dict[str | None, Any] = {}

    # ------------------------------------------------------------------------------------------ hot path

    def message_received(
        self, message_type: str | None, sender: str | None, receiver: str | None, outcome: str
    ) -> None:
        key = (message_type, sender, receiver, outcome)
        child = self._received_children.get(key)
        if child is None:
            labels = (
                self.type(message_type),
                self.org(sender),
                self.org(receiver),
                self.received_outcome(outcome),
            )
            child = self.messages_received.labels(*labels)
            if labels == key:  # cache only bounded keys
                self._received_children[key] = child
        child.inc()

    def delivery_finished(self, receiver: str | None, outcome: str, seconds: float | None = None) -> None:
        """One delivery attempt ended; ``seconds`` is its duration (observed for every outcome)."""
        key = (receiver, outcome)
        pair = self._delivery_children.get(key)
        if pair is None:
            rlabel, olabel = self.org(receiver), self.delivery_outcome(outcome)
            pair = (self.deliveries.labels(rlabel, olabel), self.delivery_duration.labels(rlabel))
            if (rlabel, olabel) == key:
                self._delivery_children[key] = pair
        pair[0].inc()
        if seconds is not None:
            pair[1].observe(seconds)

    def receipt_received(self, message_type: str | None, latency_seconds: float) -> None:
        """A receipt arrived for a message of ``message_type`` this long after its delivery."""
        child = self._receipt_children.get(message_type)
        if child is None:
            label = self.type(message_type)
            child = self.receipt_latency.labels(label)
            if label == message_type:
                self._receipt_children[message_type] = child
        child.observe(latency_seconds)

    def validation_observed(self, message_type: str | None, seconds: float) -> None:
        child = self._validation_children.get(message_type)
        if child is None:
            label = self.type(message_type)
            child = self.validation_duration.labels(label)
            if label == message_type:
                self._validation_children[message_type] = child
        child.observe(seconds)

    def dead_letter(self, receiver: str | None) -> None:
        self.dead_letters.labels(self.org(receiver)).inc()

    def notice_sent(self, kind: str, count: int = 1) -> None:
        self.notices_sent.labels(self.notice_kind(kind)).inc(count)

    def login_event(self, event: str) -> None:
        if event in LOGIN_EVENTS:
            self.login_events.labels(event).inc()

    # ------------------------------------------------------------------------------------------ state

    @property
    def snapshot(self) -> GaugeSnapshot:
        return self._snapshot

    def set_snapshot(self, snapshot: GaugeSnapshot) -> None:
        self._snapshot = snapshot
        self._snapshot_at = snapshot.taken_at or self._clock()

    def update_gauges(self, **changes: Any) -> None:
        """Replace some fields of the snapshot (e.g. ``route_states=matrix.states()``), keep the rest."""
        self.set_snapshot(dataclasses.replace(self._snapshot, **changes, taken_at=None))

    async def refresh_forever(
        self, fetch: Callable[[], Awaitable[GaugeSnapshot]], interval_seconds: float = 5.0
    ) -> None:
        """Run until cancelled: ``set_snapshot(await fetch())`` every interval. A failing fetch is logged
        and retried next interval; the old snapshot stays (its age shows in
        ``edigate_gauges_age_seconds``)."""
        while True:
            try:
                self.set_snapshot(await fetch())
            except asyncio.CancelledError:
                raise
            except Exception:
                _log.exception("metrics gauge refresh failed")
            await asyncio.sleep(interval_seconds)

    # ------------------------------------------------------------------------------------------ exposition

    def render(self) -> bytes:
        """The text exposition for ``GET /metrics`` (serve with ``Content-Type: CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    def metric_names(self) -> set[str]:
        """Every sample name this registry can expose (``_total``, ``_bucket`` … included)."""
        names: set[str] = set()
        for family in self.registry.collect():
            base = family.name
            if family.type == "counter":
                names |= {f"{base}_total", f"{base}_created"}
            elif family.type == "histogram":
                names |= {f"{base}_bucket", f"{base}_count", f"{base}_sum", f"{base}_created"}
            elif family.type == "info":
                names.add(f"{base}_info")
            else:
                names.add(base)
        return names


class _SnapshotCollector(Collector):
    """Turns the current GaugeSnapshot into gauge families at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def describe(self) -> Iterable[Metric]:
        return list(self._families(GaugeSnapshot(), None))

    def collect(self) -> Iterable[Metric]:
        return list(self._families(self._m.snapshot, self._m._clock()))

    def _families(self, snap: GaugeSnapshot, now: datetime | None) -> Iterator[Metric]:
        m = self._m
        depth = GaugeMetricFamily(
            "edigate_queue_depth",
            f"Messages waiting for delivery, per receiver (counted up to {PENDING_COUNT_CAP} per route and message"
            f" type; {PENDING_COUNT_CAP + 1} there means more).",
            labels=["receiver"],
        )
        oldest = GaugeMetricFamily(
            "edigate_queue_oldest_age_seconds",
            "Age of the oldest message waiting for delivery, per receiver (0 when the queue is empty).",
            labels=["receiver"],
        )
        depth_sum: dict[str, float] = {}
        oldest_max: dict[str, float] = {}
        for receiver, q in snap.queues.items():
            label = m.org(receiver)
            depth_sum[label] = depth_sum.get(label, 0) + q.depth
            age = 0.0
            if now is not None and q.oldest_pending_at is not None and q.depth > 0:
                age = max(0.0, (now - q.oldest_pending_at).total_seconds())
            oldest_max[label] = max(oldest_max.get(label, 0.0), age)
        for label, value in depth_sum.items():
            depth.add_metric([label], value)
        for label, value in oldest_max.items():
            oldest.add_metric([label], value)
        yield depth
        yield oldest

        overdue = GaugeMetricFamily(
            "edigate_receipts_overdue",
            "Delivered messages whose receipt is overdue (past the alert time), per receiver.",
            labels=["receiver"],
        )
        for label, value in _summed(snap.receipts_overdue.items(), m.org).items():
            overdue.add_metric([label], value)
        yield overdue

        state = GaugeMetricFamily(
            "edigate_route_state",
            "Route health, one-hot: 1 for the route's current state (ok, degraded, down), 0 for the others.",
            labels=["sender", "receiver", "state"],
        )
        worst: dict[tuple[str, str], int] = {}
        for (sender, receiver), state_name in snap.route_states.items():
            key = (m.org(sender), m.org(receiver))
            # an unknown state string counts as down: better a false alarm than a silent route
            rank = ROUTE_STATES.index(state_name) if state_name in ROUTE_STATES else len(ROUTE_STATES) - 1
            worst[key] = max(worst.get(key, 0), rank)
        for (sender, receiver), rank in sorted(worst.items()):
            for i, name in enumerate(ROUTE_STATES):
                state.add_metric([sender, receiver, name], 1.0 if i == rank else 0.0)
        yield state

        incidents = GaugeMetricFamily(
            "edigate_incidents_open", "Open outage incidents (draft or confirmed), by kind.", labels=["kind"]
        )
        counts = _summed(snap.incidents_open.items(), m.incident_kind)
        for kind in INCIDENT_KINDS:
            counts.setdefault(kind, 0)
        for label, value in sorted(counts.items()):
            incidents.add_metric([label], value)
        yield incidents

        yield GaugeMetricFamily(
            "edigate_mail_outbox_pending", "Mails in the outbox not yet sent.", value=snap.mail_outbox_pending
        )
        yield GaugeMetricFamily(
            "edigate_mail_outbox_failed",
            "Mails in the outbox that failed permanently.",
            value=snap.mail_outbox_failed,
        )
        failed = GaugeMetricFamily(
            "edigate_outbox_failed",
            "Outbox rows (mail or webhook) that will not be sent, failed or refused, by channel and notice kind.",
            labels=["channel", "notice"],
        )
        failed_sum: dict[tuple[str, str], float] = {}
        for (channel, notice), value in snap.outbox_failed.items():
            key = (m.outbox_channel(channel), m.outbox_notice(notice))
            failed_sum[key] = failed_sum.get(key, 0.0) + value
        for (channel, notice), value in sorted(failed_sum.items()):
            failed.add_metric([channel, notice], value)
        yield failed
        at = m._snapshot_at
        yield GaugeMetricFamily(
            "edigate_gauges_age_seconds",
            "Seconds since the state gauges were last refreshed.",
            value=max(0.0, (now - at).total_seconds()) if now is not None and at is not None else 0.0,
        )


def _summed(items: Iterable[tuple[str, int]], bound: Callable[[str], str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for raw, value in items:
        label = bound(raw)
        out[label] = out.get(label, 0) + value
    return out


class NullMetrics(Metrics):
    """Records nothing on the hot path: for the metrics-off benchmark and tools that need no metrics."""

    def __init__(self) -> None:
        super().__init__((), ())

    def message_received(self, *args: Any, **kwargs: Any) -> None:
        pass

    def delivery_finished(self, *args: Any, **kwargs: Any) -> None:
        pass

    def receipt_received(self, *args: Any, **kwargs: Any) -> None:
        pass

    def validation_observed(self, *args: Any, **kwargs: Any) -> None:
        pass

    def dead_letter(self, *args: Any, **kwargs: Any) -> None:
        pass

    def notice_sent(self, *args: Any, **kwargs: Any) -> None:
        pass

    def login_event(self, *args: Any, **kwargs: Any) -> None:
        pass
