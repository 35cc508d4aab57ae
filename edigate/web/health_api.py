"""/healthz (the process answers) and /readyz (storage answers and can take writes; JSON with component
states: a SQLite file system with less than 1 MiB free, or a storage failure within the last seconds,
is not ready).

Readiness depends on storage only: a down receiver or mail server must not take the gateway out of a load
balancer, but /readyz reports them so on-call sees at a glance what is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Literal

from aiohttp import web

from edigate.delivery.worker import DeliveryWorker
from edigate.fhir.factory import AnyFhirValidator
from edigate.web.apispec import Operation, register, reply
from edigate.web.keys import FHIR_VALIDATOR, LEADER, MAIL_RELAY, SETTINGS, STORE, WORKER, MailRelay
from edigate.web.responses import FhirValidation, Health, Ready, json_reply
from edigate.web.storage_trouble import MIN_FREE_BYTES, STORAGE_TROUBLE, sqlite_free_bytes

SMTP_PROBE_SECONDS = 1.0


async def smtp_reachability(mail: MailRelay | None) -> Literal["ok", "unreachable", "unwritable", "not_configured"]:
    """ "ok" when the configured SMTP server accepts a TCP connection (or the mail folder is writable)."""
    if mail is None:
        return "not_configured"
    if mail.kind != "smtp":
        return "ok" if os.access(os.path.dirname(os.path.abspath(mail.directory)) or ".", os.W_OK) else "unwritable"
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(mail.host, mail.port), SMTP_PROBE_SECONDS)
    except (OSError, TimeoutError):
        return "unreachable"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "ok"


def receiver_reachability(worker: DeliveryWorker | None) -> dict[str, str]:
    """Per push receiver (http/directory): its circuit, "closed" meaning deliveries go through."""
    if worker is None:
        return {}
    return {ean: worker.circuit_state(ean) for ean in worker.partners}


def fhir_validation(validator: AnyFhirValidator | None) -> FhirValidation:
    """Can FHIR messages be validated now, and if not, why."""
    if validator is None:
        return FhirValidation(available=False, reason="FHIR validation is not set up")
    available, reason = validator.status()
    return FhirValidation(available=available, reason=reason)


async def healthz(request: web.Request) -> web.Response:
    return json_reply(Health(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    store = request.app[STORE]
    storage_ok = await store.ping()
    worker = request.app.get(WORKER)
    free = sqlite_free_bytes(request.app[SETTINGS].storage.url)
    trouble = request.app[STORAGE_TROUBLE].recent() if STORAGE_TROUBLE in request.app else None
    components = {
        "storage": "ok" if storage_ok else "unavailable",
        "writer": "ok" if store.writer.running else "stopped",
        "delivery": "ok" if worker is not None and worker.running else "stopped",
        # SQLite: the file system of the database file; PostgreSQL: not visible from here
        "disk": "unknown" if free is None else ("ok" if free >= MIN_FREE_BYTES else "full"),
        # the last storage failure a request met (a full disk, a lost connection), for RECENT_SECONDS
        "storage_writes": "ok" if trouble is None else f"failing: {trouble}",
    }
    fhir = fhir_validation(request.app.get(FHIR_VALIDATOR))  # reported, not required: OIOXML flows without it
    components["fhir_validation"] = "ok" if fhir.available else "unavailable"
    ready = storage_ok and store.writer.running and components["disk"] != "full" and trouble is None
    leader = request.app.get(LEADER)
    body = Ready(
        status="ready" if ready else "not_ready",
        components=components,
        leader=leader is not None and leader.is_leader(),  # runs the time-based jobs (one instance)
        smtp=await smtp_reachability(request.app.get(MAIL_RELAY)),
        receivers=receiver_reachability(worker),
        fhir_validation=fhir,
    )
    return json_reply(body, status=200 if ready else 503)


OPERATIONS = (
    Operation(
        "get",
        "/healthz",
        "healthz",
        "The process answers (liveness)",
        "health",
        "none",
        {200: reply("Alive.", Health)},
        healthz,
    ),
    Operation(
        "get",
        "/readyz",
        "readyz",
        "Storage and writer answer (readiness)",
        "health",
        "none",
        {200: reply("Ready.", Ready), 503: reply("Not ready.", Ready)},
        readyz,
    ),
)


def add_routes(app: web.Application) -> None:
    register(app, OPERATIONS)
