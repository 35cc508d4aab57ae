"""``GET /metrics`` and the small hooks the gateway calls on its hot path to feed it.

The hooks take the app, so the code that sees an event needs no reference to
:class:`edigate.metrics.Metrics`. With ``[metrics] enabled = false`` no Metrics object exists, every hook
returns after one dict lookup and ``/metrics`` answers 404: the "metrics off" side of the overhead bench.

Where each figure comes from:

* messages received - :func:`record_received`, called by ``web/ingest.py post_message`` once per request
  with the outcome (``accepted`` | ``duplicate`` | ``invalid`` | ``refused`` | ``unauthorized`` | ``error``);
* validation time - :func:`record_validation`, ``web/ingest.py`` around ``Validator.validate``;
* deliveries and their duration, dead letters - the delivery worker's ``observers`` (receiver, outcome,
  seconds), subscribed here; a worker without ``observers`` feeds the counts (without durations) through
  its health ``listeners`` instead;
* receipt latency - observed by the route health loop from the store (``edigate.monitor``), which sees
  every correlated receipt, so the ingest path needs no hook for it;
* the state gauges (queues, route states, incidents, outbox) - refreshed by the route health loop.
* login events of the outage procedure's form - :func:`record_login_event`, its throttle's observer.
"""

from __future__ import annotations

from aiohttp import web

from edigate.metrics import CONTENT_TYPE, Metrics
from edigate.web.keys import CLOCK, SETTINGS, WORKER

__all__ = [
    "METRICS",
    "record_login_event",
    "record_received",
    "record_validation",
    "setup_metrics",
]

METRICS = web.AppKey("edigate.metrics", Metrics)


def build_metrics(app: web.Application) -> Metrics:
    """A Metrics whose label values are bounded by the partner directory and the MedCom catalogue."""
    from edigate.medcom.catalogue import CATALOGUE

    settings = app[SETTINGS]
    clock = app[CLOCK]
    return Metrics(
        known_eans=[p.ean for p in settings.partners],
        known_types=[t.type_code for t in CATALOGUE],
        organisation_names={p.ean: p.name for p in settings.partners},
        clock=clock,
    )


async def metrics_handler(request: web.Request) -> web.Response:
    metrics = request.app.get(METRICS)
    if metrics is None:
        raise web.HTTPNotFound(text="metrics are disabled ([metrics] enabled = false)")
    body = metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def setup_metrics(app: web.Application, *, delivery_from_listener: bool = True) -> Metrics | None:
    """Register ``GET /metrics`` and, unless disabled, the app's Metrics (``app[METRICS]``).

    Call from ``build_app`` after SETTINGS, CLOCK and WORKER are set and before the app starts.
    """
    app.router.add_get("/metrics", metrics_handler)
    if not app[SETTINGS].metrics.enabled:
        return None
    metrics = build_metrics(app)
    app[METRICS] = metrics
    worker = app.get(WORKER)
    if worker is None:
        return metrics
    observers = getattr(worker, "observers", None)
    if observers is not None:

        def on_attempt(receiver: str, outcome: str, seconds: float | None) -> None:
            if outcome == "dead_letter":
                metrics.dead_letter(receiver)
            else:
                metrics.delivery_finished(receiver, outcome, seconds)

        observers.append(on_attempt)
    elif delivery_from_listener:

        def on_delivery(receiver: str, ok: bool, error: str | None) -> None:
            metrics.delivery_finished(receiver, "delivered" if ok else "failed")

        worker.listeners.append(on_delivery)
    return metrics


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


def record_login_event(app: web.Application, event: str) -> None:
    """The outage procedure's login throttle heard `event` (wrong_key | lockout | throttled)."""
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.login_event(event)
