"""Composition root: settings -> database, store, directory, validator, delivery, web, notify.

Startup order (aiohttp runs `cleanup_ctx` before other on_startup handlers): migrate the database,
start the group-commit writer, start the delivery worker and the receipt sweep; notify's scheduler
starts after that. Shutdown (SIGTERM): the web runner stops taking requests and finishes in-flight
ones, then the sweep and worker stop, the writer commits what is queued, notify stops, and the
database closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import structlog
from aiohttp import web

from edigate.clock import Clock, clock_from_environment
from edigate.delivery.worker import DeliveryWorker
from edigate.fhir.factory import build_fhir_validator
from edigate.ingest.oioxml import OioxmlAdapter
from edigate.ingest.pipeline import IngestPipeline
from edigate.ingest.services import IngestServices
from edigate.medcom import Validator, all_types
from edigate.medcom.explain_pool import ExplainPool
from edigate.monitor import setup_health_monitor
from edigate.routing import PartnerDirectory
from edigate.settings import Settings
from edigate.store.crypto import BodyKeyring
from edigate.store.db import Database
from edigate.store.leader import LEADER, LeaderElection
from edigate.store.messages import MessageStore
from edigate.store.retention import retention_ctx
from edigate.web import health_api, mailbox, messages_api
from edigate.web.edge_input import setup_edge_input
from edigate.web.errors import json_errors
from edigate.web.ingest import post_message
from edigate.web.keys import (
    ACK_ALERT_HOOKS,
    CLOCK,
    DATABASE,
    DIRECTORY,
    EXPLAIN_POOL,
    FHIR_VALIDATOR,
    INGEST,
    NOTIFY,
    SETTINGS,
    STORE,
    VALIDATION_POOL,
    VALIDATOR,
    WORKER,
)
from edigate.web.limits import setup_request_limits
from edigate.web.metrics_api import record_login_event, record_received, record_validation, setup_metrics
from edigate.web.openapi import setup_openapi
from edigate.web.routes_api import setup_routes_api
from edigate.web.security_headers import setup_security_headers
from edigate.web.storage_trouble import setup_storage_trouble

log = structlog.get_logger()


def ensure_sqlite_dir(url: str) -> None:
    """`sqlite:///var/edigate.db` on a fresh clone: create `var/`."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    clock = clock or clock_from_environment()
    app = web.Application(client_max_size=settings.server.max_body_bytes, middlewares=[json_errors])
    setup_security_headers(app)  # CSP, frame-ancestors, nosniff, Referrer-Policy on every answer
    setup_storage_trouble(app)  # a full disk or a lost database: 503 with a reason, and /readyz sees it
    ensure_sqlite_dir(settings.storage.url)
    database = Database.open(settings.storage.url)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[DATABASE] = database
    app[DIRECTORY] = PartnerDirectory(settings)
    app[VALIDATOR] = Validator(settings.medcom.schema_dir, max_bytes=settings.server.max_body_bytes)
    app[EXPLAIN_POOL] = ExplainPool(app[VALIDATOR].schema_dir, max_bytes=settings.server.max_body_bytes)
    app[STORE] = MessageStore(
        database,
        clock,
        group_commit_max=settings.storage.group_commit_max,
        group_commit_wait_ms=settings.storage.group_commit_wait_ms,
        keyring=BodyKeyring.from_environment(),  # None unless EDIGATE_BODY_KEYS is set
    )
    app[WORKER] = DeliveryWorker(
        app[STORE], settings.partners, settings.delivery, clock, gateway_ean=settings.medcom.gateway_ean
    )
    app[FHIR_VALIDATOR] = build_fhir_validator(settings.fhir)
    app[ACK_ALERT_HOOKS] = []
    app[LEADER] = LeaderElection(settings.storage.url, database.dialect)  # time-based jobs: one instance
    app[INGEST] = _ingest_pipeline(app, settings, clock)

    app.router.add_post("/api/v1/messages", post_message)
    messages_api.add_routes(app)
    mailbox.add_routes(app)
    health_api.add_routes(app)
    setup_openapi(app)
    setup_request_limits(app, settings.server.body_read_timeout_seconds)
    setup_edge_input(app)  # NUL bytes etc. in path, query, form fields, JSON: 404/400/422, never a 500

    app.cleanup_ctx.append(_validation_pool)
    app.cleanup_ctx.append(_fhir_validator_ctx)
    app.cleanup_ctx.append(_explain_pool)
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_delivery_ctx)
    app.cleanup_ctx.append(_leader_ctx)
    app.cleanup_ctx.append(_ack_sweep_ctx)
    app.cleanup_ctx.append(retention_ctx)
    _wire_notify(app, settings, database, clock)
    setup_metrics(app)  # GET /metrics; [metrics] enabled = false turns recording off
    setup_health_monitor(app)  # route health loop: gauges, alert mails, draft incidents
    setup_routes_api(app)  # GET /api/v1/routes, GET /routes
    app.on_cleanup.append(_close_database)  # after notify's own cleanup
    return app


def _ingest_pipeline(app: web.Application, settings: Settings, clock: Clock) -> IngestPipeline:
    """POST /api/v1/messages: the shared stages and one adapter per message format."""
    oioxml = OioxmlAdapter(
        app[VALIDATOR],
        lambda: app[VALIDATION_POOL],  # the threads start with the app
        gateway_ean=settings.medcom.gateway_ean,
        observe_validation=functools.partial(record_validation, app),
        explain=app[EXPLAIN_POOL].explained,  # readable reports of invalid messages, off the loop
    )
    return IngestPipeline(
        IngestServices(
            directory=app[DIRECTORY],
            store=app[STORE],
            clock=clock,
            adapters=(oioxml,),
            max_body_bytes=settings.server.max_body_bytes,
            wake=app[WORKER].wake,
            observe_received=functools.partial(record_received, app),  # a no-op while metrics are off
        )
    )


VALIDATION_THREADS = 4


async def _validation_pool(app: web.Application) -> AsyncIterator[None]:
    """The validation threads, each with its own compiled schemas, compiled one thread after another at
    startup. Measured: when the first XSD compiles of a process run in several threads at once, libxml2's
    lazily built table of built-in types is corrupted and every compile fails from then on ("Internal
    error: xmlSchemaPValAttrNodeValue, the given type is not a built-in type"); one compile first, then
    any number of threads, works."""
    validator = app[VALIDATOR]
    compile_lock = threading.Lock()
    problems: list[str] = []

    def compile_schemas() -> None:
        with compile_lock:
            problems[:] = validator.check_schemas()

    pool = ThreadPoolExecutor(
        max_workers=VALIDATION_THREADS, thread_name_prefix="medcom-validate", initializer=compile_schemas
    )
    barrier = threading.Barrier(VALIDATION_THREADS)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, barrier.wait, 30) for _ in range(VALIDATION_THREADS)))
    for problem in problems:
        log.warning("schema_unavailable", error=problem[:300])
    app[VALIDATION_POOL] = pool
    yield
    pool.shutdown(wait=True)


async def _fhir_validator_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the FHIR validator in the background: the JVM warms up while OIOXML already flows."""
    validator = app[FHIR_VALIDATOR]
    await validator.start()
    available, reason = validator.status()
    log.info("fhir_validation", available=available, reason=reason)
    yield
    await validator.stop()


async def _explain_pool(app: web.Application) -> AsyncIterator[None]:
    """The worker process that writes readable reports for invalid messages (edigate.medcom.explain_pool)."""
    app[EXPLAIN_POOL].start()
    yield
    app[EXPLAIN_POOL].close()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.start()
    log.info("store_started", dialect=app[DATABASE].dialect)
    yield
    await store.stop()


async def _delivery_ctx(app: web.Application) -> AsyncIterator[None]:
    worker = app[WORKER]
    await worker.start()
    log.info("delivery_started", owner=worker.owner, push_receivers=len(worker.partners))
    yield
    await worker.stop()


async def _leader_ctx(app: web.Application) -> AsyncIterator[None]:
    leader = app[LEADER]
    await leader.start()
    yield
    await leader.stop()


async def _ack_sweep_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.get_running_loop().create_task(_ack_sweep(app), name="ack-sweep")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _ack_sweep(app: web.Application) -> None:
    """pluspositivkvitt without a receipt: ack_overdue after 30 min, the alert hooks after 90 min."""
    d = app[SETTINGS].delivery
    while True:
        if not app[LEADER].is_leader():  # two instances: the sweep (and its alerts) runs on the leader only
            await asyncio.sleep(min(1.0, d.ack_sweep_interval_seconds))
            continue
        try:
            overdue, alerts = await app[STORE].ack_sweep(
                timedelta(minutes=d.ack_timeout_minutes), timedelta(minutes=d.ack_alert_minutes)
            )
            for mid in overdue:
                log.warning("message_ack_overdue", message_id=mid)
            for alert in alerts:
                log.error(
                    "message_ack_alert",
                    message_id=alert.id,
                    envelope_id=alert.envelope_id,
                    route=f"{alert.sender_ean}->{alert.receiver_ean}",
                    type=alert.type,
                )
                for hook in app[ACK_ALERT_HOOKS]:
                    try:
                        await hook(alert)
                    except Exception as exc:
                        log.warning("ack_alert_hook_failed", error=type(exc).__name__)
        except Exception as exc:
            log.warning("ack_sweep_failed", error=type(exc).__name__)
        await asyncio.sleep(d.ack_sweep_interval_seconds)


async def _close_database(app: web.Application) -> None:
    await app[DATABASE].close()


def _wire_notify(app: web.Application, settings: Settings, database: Database, clock: Clock) -> None:
    """Hand notify its storage, clock, organisations and admin tokens (guarded: notify may be absent)."""
    if settings.notify is None:
        return
    try:
        from edigate.store.directory_store import SqlDirectoryStore
        from edigate.store.login_sessions import SqlLoginSessions
        from edigate.store.notify_store import SqlNotifyStorage
        from edigate.store.portal_tasks import SqlPortalTasks
        from notify.model import Organisation
        from notify.service import setup_notify
    except ImportError as exc:
        log.warning("notify_not_available", reason=f"{type(exc).__name__}: {exc}")
        return
    organisations = [
        Organisation(ean=p.ean, name=p.name, kind=p.kind, clusters=p.clusters, mailbox=p.mailbox)
        for p in settings.partners
    ]
    admin_hashes = frozenset(t for a in settings.admins for t in a.tokens_sha256)
    app[NOTIFY] = setup_notify(
        app,
        settings=settings.notify,
        storage=SqlNotifyStorage(database),
        clock=clock,
        organisations=organisations,
        admin_token_hashes=admin_hashes,
        message_types=all_types,  # the catalogue: the form's "Berørte meddelelser"
        is_leader=app[LEADER].is_leader,
        login_observer=functools.partial(record_login_event, app),  # metrics are set up after notify
        login_sessions=SqlLoginSessions(database),
        portal_tasks=SqlPortalTasks(database),
        directory_store=SqlDirectoryStore(database),
    )
