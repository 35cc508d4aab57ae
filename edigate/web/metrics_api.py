"""``GET /metrics`` and the small hooks the gateway calls on its hot path to feed it.

The hooks take the app, so the code that sees an event needs no reference to
:class:`edigate.metrics.Metrics`. With ``[metrics] enabled = false`` no Metrics object exists
(``app[METRICS]`` is None), every hook returns after one dict lookup and ``/metrics`` answers 404: the
"metrics off" side of the overhead bench.

Where each figure comes from:

* messages received - :func:`record_received`, called by ``web/ingest.py post_message`` once per request
  with the outcome (``accepted`` | ``duplicate`` | ``invalid`` | ``refused`` | ``unauthorized`` | ``error``);
* validation time - :func:`record_validation`, ``web/ingest.py`` around ``Validator.validate``;
* deliveries and their duration, dead letters - the delivery worker's ``observers`` (receiver, outcome,
  seconds), subscribed by :func:`observe_deliveries`;
* receipt latency - observed by the route health loop from the store (``edigate.monitor``), which sees
  every correlated receipt, so the ingest path needs no hook for it;
* the state gauges (queues, route states, incidents, outbox) - refreshed by the route health loop.
* login events of the outage procedure's form - ``Metrics.login_event``, its throttle's observer.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from edigate.clock import Clock
from edigate.config import Partner
from edigate.delivery.worker import DeliveryWorker
from edigate.fhir.standards import STANDARDS as FHIR_STANDARDS
from edigate.medcom.catalogue import CATALOGUE
from edigate.metrics import CONTENT_TYPE, Metrics
from edigate.web.keys import METRICS

__all__ = [
    "add_routes",
    "build_metrics",
    "observe_deliveries",
    "record_received",
    "record_validation",
]


def build_metrics(partners: Sequence[Partner], clock: Clock) -> Metrics:
    """A Metrics whose label values are bounded by the partner directory and the MedCom catalogue."""
    return Metrics(
        known_eans=[p.ean for p in partners],
        known_types=[t.type_code for t in CATALOGUE] + [s.name for s in FHIR_STANDARDS],  # metrics by standard
        organisation_names={p.ean: p.name for p in partners},
        clock=clock,
    )


def observe_deliveries(worker: DeliveryWorker, metrics: Metrics) -> None:
    """Every delivery attempt's outcome and duration, and every dead letter, from the worker's observers."""

    def on_attempt(receiver: str, outcome: str, seconds: float | None) -> None:
        if outcome == "dead_letter":
            metrics.dead_letter(receiver)
        else:
            metrics.delivery_finished(receiver, outcome, seconds)

    worker.observers.append(on_attempt)


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app.get(METRICS)
    if metrics is None:
        raise web.HTTPNotFound(text="metrics are disabled ([metrics] enabled = false)")
    body = metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_handler)


# ---------------------------------------------------------------------------------------------- hot path


def record_received(
    app: web.Application, message_type: str | None, sender: str | None, receiver: str | None, outcome: str
) -> None:
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.message_received(message_type, sender, receiver, outcome)


def record_validation(app: web.Application, message_type: str | None, seconds: float) -> None:
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.validation_observed(message_type, seconds)
