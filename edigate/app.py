"""Composition root: settings -> the object graph (:func:`build_gateway`) -> one aiohttp application
(:func:`build_app`). Nothing else builds a long-lived object or reads another part's settings.

Every object is made by a plain constructor with typed arguments, and the whole graph is started and stopped
in one visible order (:func:`_running`): the validation threads compile the schemas → the store migrates
the database and starts the group-commit writer (on SQLite also the WAL checkpoint thread) → the delivery
worker → the leader election → the receipt sweep and the retention purge → the outage procedure
(scheduler, outbox) → the route health loop → the objects alive then are frozen out of garbage collection
(edigate.gc_pauses). On SIGTERM the web runner first stops taking requests and finishes the in-flight ones;
then the same steps run in reverse, and the database closes last.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import threading
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import structlog
from aiohttp import web

from edigate.alerts import AlertSettings
from edigate.clock import Clock, clock_from_environment
from edigate.delivery.worker import DeliveryWorker
from edigate.fhir.adapter import FhirAdapter
from edigate.fhir.factory import AnyFhirValidator, build_fhir_validator
from edigate.gc_pauses import PauseWatch, freeze_startup_objects
from edigate.ingest.oioxml import OioxmlAdapter
from edigate.ingest.pipeline import IngestPipeline
from edigate.ingest.services import IngestServices
from edigate.medcom import Validator, all_types
from edigate.medcom.explain_pool import ExplainPool
from edigate.metrics import Metrics
from edigate.monitor import HealthLoop, HealthLoopSettings
from edigate.receipt_sweep import MissingReceiptHook, sweep_overdue_receipts
from edigate.routing import PartnerDirectory
from edigate.settings import Settings
from edigate.store.crypto import BodyKeyring
from edigate.store.db import Database
from edigate.store.dead_letter_desk import SqlDeadLetterDesk
from edigate.store.directory_store import SqlDirectoryStore
from edigate.store.leader import LeaderElection
from edigate.store.login_sessions import SqlLoginSessions
from edigate.store.messages import MessageStore
from edigate.store.notify_store import SqlNotifyStorage
from edigate.store.portal_tasks import SqlPortalTasks
from edigate.store.retention import purge_periodically
from edigate.store.wal_checkpoint import WalCheckpointer
from edigate.web import health_api, mailbox, messages_api, metrics_api, routes_api
from edigate.web import ingest as ingest_web
from edigate.web.apispec import OperationSpec
from edigate.web.edge_input import setup_edge_input
from edigate.web.errors import json_errors
from edigate.web.keys import (
    CLOCK,
    DATABASE,
    DIRECTORY,
    EXPLAIN_POOL,
    FHIR_VALIDATOR,
    HEALTH_LOOP,
    INGEST,
    LEADER,
    MAIL_RELAY,
    METRICS,
    PAGES,
    SETTINGS,
    STORE,
    VALIDATION_POOL,
    VALIDATOR,
    WORKER,
    MailRelay,
)
from edigate.web.limits import setup_request_limits
from edigate.web.openapi import setup_openapi
from edigate.web.pages import Pages, SiteLayout, Visitor, anonymous
from edigate.web.security_headers import setup_security_headers
from edigate.web.storage_trouble import setup_storage_trouble
from notify import api_doc as notify_api_doc
from notify import web as notify_web
from notify.dead_letters_web import add_dead_letter_routes
from notify.gateway_port import GatewayPort
from notify.model import Organisation
from notify.render import TEMPLATES as NOTIFY_TEMPLATES
from notify.service import NotifyService

log = structlog.get_logger()

VALIDATION_THREADS = 4
#: the outage procedure's service, for notify's own handlers and for tests; absent without [notify]
NOTIFY = web.AppKey("edigate.notify", NotifyService)


@dataclass
class Gateway:
    """The object graph of one running edigate."""

    settings: Settings
    clock: Clock
    database: Database
    directory: PartnerDirectory
    validator: Validator
    validation_pool: ThreadPoolExecutor
    schema_problems: list[str]
    explain_pool: ExplainPool
    fhir_validator: AnyFhirValidator
    store: MessageStore
    worker: DeliveryWorker
    leader: LeaderElection
    metrics: Metrics | None
    notify: NotifyService | None
    health_loop: HealthLoop
    ingest: IngestPipeline
    missing_receipt_hooks: list[MissingReceiptHook] = field(default_factory=list)


def ensure_sqlite_dir(url: str) -> None:
    """`sqlite:///var/edigate.db` on a fresh clone: create `var/`."""
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def build_gateway(settings: Settings, clock: Clock) -> Gateway:
    """Every long-lived object, each given exactly what it needs."""
    ensure_sqlite_dir(settings.storage.url)
    database = Database.open(settings.storage.url, wal_checkpoints="thread")  # SQLite: no commit checkpoints
    validator = Validator(settings.medcom.schema_dir, max_bytes=settings.server.max_body_bytes)
    validation_pool, schema_problems = _validation_pool(validator)
    explain_pool = ExplainPool(validator.schema_dir, max_bytes=settings.server.max_body_bytes)
    store = MessageStore(
        database,
        clock,
        group_commit_max=settings.storage.group_commit_max,
        group_commit_wait_ms=settings.storage.group_commit_wait_ms,
        keyring=BodyKeyring.from_environment(),  # None unless EDIGATE_BODY_KEYS is set
    )
    worker = DeliveryWorker(store, settings.partners, settings.delivery, clock, gateway_ean=settings.medcom.gateway_ean)
    leader = LeaderElection(settings.storage.url, database.dialect)  # time-based jobs: one instance
    metrics = metrics_api.build_metrics(settings.partners, clock) if settings.metrics.enabled else None
    if metrics is not None:
        metrics_api.observe_deliveries(worker, metrics)
    notify = _outage_procedure(settings, database, clock, leader, metrics)
    health_loop = _health_loop(settings, database, clock, worker, leader, metrics, notify)
    fhir_validator = build_fhir_validator(settings.fhir)
    return Gateway(
        settings=settings,
        clock=clock,
        database=database,
        directory=PartnerDirectory(settings),
        validator=validator,
        validation_pool=validation_pool,
        schema_problems=schema_problems,
        store=store,
        worker=worker,
        leader=leader,
        metrics=metrics,
        notify=notify,
        explain_pool=explain_pool,
        fhir_validator=fhir_validator,
        health_loop=health_loop,
        ingest=_ingest_pipeline(
            settings, clock, validator, validation_pool, explain_pool, store, worker, metrics, fhir_validator
        ),
        # receipts missing past the alert time: an IT alert mail
        missing_receipt_hooks=[health_loop.missing_receipt_alert],
    )


def _ingest_pipeline(
    settings: Settings,
    clock: Clock,
    validator: Validator,
    validation_pool: ThreadPoolExecutor,
    explain_pool: ExplainPool,
    store: MessageStore,
    worker: DeliveryWorker,
    metrics: Metrics | None,
    fhir_validator: AnyFhirValidator,
) -> IngestPipeline:
    """POST /api/v1/messages: the shared stages and one adapter per message format (OIOXML, MedCom FHIR)."""
    oioxml = OioxmlAdapter(
        validator,
        lambda: validation_pool,
        gateway_ean=settings.medcom.gateway_ean,
        observe_validation=metrics.validation_observed if metrics is not None else _ignore,
        explain=explain_pool.explained,  # readable reports of invalid messages, off the loop
    )
    fhir = FhirAdapter(
        lambda: fhir_validator,  # the HL7 reference validator (edigate.fhir.factory)
        clock,
        max_bytes=settings.server.max_body_bytes,
        observe_validation=metrics.validation_observed if metrics is not None else _ignore,
    )
    return IngestPipeline(
        IngestServices(
            directory=PartnerDirectory(settings),
            store=store,
            clock=clock,
            adapters=(oioxml, fhir),
            max_body_bytes=settings.server.max_body_bytes,
            wake=worker.wake,
            observe_received=metrics.message_received if metrics is not None else _ignore,
        )
    )


def _ignore(*_: object) -> None:
    """An observer for when [metrics] enabled = false."""


def _outage_procedure(
    settings: Settings, database: Database, clock: Clock, leader: LeaderElection, metrics: Metrics | None
) -> NotifyService | None:
    """The outage procedure with its storage, clock, organisations and admin tokens; None without [notify]."""
    if settings.notify is None:
        return None
    return NotifyService(
        settings=settings.notify,
        storage=SqlNotifyStorage(database),
        clock=clock,
        organisations=[
            Organisation(ean=p.ean, name=p.name, kind=p.kind, clusters=p.clusters, mailbox=p.mailbox)
            for p in settings.partners
        ],
        admin_token_hashes=frozenset(t for a in settings.admins for t in a.tokens_sha256),
        message_types=all_types,  # the catalogue: the form's "Berørte meddelelser"
        is_leader=leader.is_leader,
        login_observer=metrics.login_event if metrics is not None else None,
        login_sessions=SqlLoginSessions(database),
        portal_tasks=SqlPortalTasks(database),
        directory_store=SqlDirectoryStore(database),
    )


def _health_loop(
    settings: Settings,
    database: Database,
    clock: Clock,
    worker: DeliveryWorker,
    leader: LeaderElection,
    metrics: Metrics | None,
    notify: NotifyService | None,
) -> HealthLoop:
    """The route health loop: gauges, alert mails and draft incidents through notify's gateway port."""
    alerts = AlertSettings.from_section(
        settings.alerts,
        edi_support=settings.notify.edi_support_email if settings.notify else None,
        on_call=settings.notify.on_call_email if settings.notify else None,
    )
    if alerts is None:
        log.warning("alerts_disabled", reason="no [notify] and no [alerts] edi_support/on_call addresses")
    public_url = settings.notify.public_url if settings.notify else None
    return HealthLoop(
        database=database,
        clock=clock,
        receivers=[p.ean for p in settings.partners],
        settings=HealthLoopSettings.from_sections(settings.health, alerts),
        worker=worker,
        metrics=metrics,
        outage=GatewayPort(notify) if notify is not None else None,
        names={p.ean: p.name for p in settings.partners},
        type_names=dict(all_types()),
        status_url=f"{public_url}/routes" if public_url else None,
        is_leader=leader.is_leader,
    )


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    gateway = build_gateway(settings, clock or clock_from_environment())
    app = web.Application(client_max_size=settings.server.max_body_bytes, middlewares=[json_errors])
    setup_security_headers(app)  # CSP, frame-ancestors, nosniff, Referrer-Policy on every answer
    setup_storage_trouble(app)  # a full disk or a lost database: 503 with a reason, and /readyz sees it
    app[SETTINGS] = settings
    app[CLOCK] = gateway.clock
    app[DATABASE] = gateway.database
    app[DIRECTORY] = gateway.directory
    app[VALIDATOR] = gateway.validator
    app[VALIDATION_POOL] = gateway.validation_pool
    app[EXPLAIN_POOL] = gateway.explain_pool
    app[FHIR_VALIDATOR] = gateway.fhir_validator
    app[STORE] = gateway.store
    app[WORKER] = gateway.worker
    app[LEADER] = gateway.leader
    app[METRICS] = gateway.metrics
    app[HEALTH_LOOP] = gateway.health_loop
    app[INGEST] = gateway.ingest
    mail = settings.notify.mail if settings.notify else None
    app[MAIL_RELAY] = MailRelay(mail.kind, mail.host, mail.port, mail.directory) if mail else None

    # each API module registers its routes from its operation table; the OpenAPI document is those tables
    ingest_web.add_routes(app)  # POST /api/v1/messages
    messages_api.add_routes(app)
    mailbox.add_routes(app)
    health_api.add_routes(app)
    routes_api.add_routes(app)  # GET /api/v1/routes, GET /routes
    api: list[OperationSpec] = [
        *ingest_web.OPERATIONS,
        *messages_api.OPERATIONS,
        *mailbox.OPERATIONS,
        *health_api.OPERATIONS,
        *routes_api.OPERATIONS,
    ]
    metrics_api.add_routes(app)  # GET /metrics (404 with [metrics] enabled = false)
    visitor: Visitor = anonymous  # without [notify] nobody can log in
    if gateway.notify is not None:
        app[NOTIFY] = gateway.notify
        desk = notify_web.add_routes(app, gateway.notify)
        visitor = desk.visitor
        names = {p.ean: p.name for p in settings.partners}
        add_dead_letter_routes(app, desk, SqlDeadLetterDesk(gateway.store, names, wake=gateway.worker.wake))
        api += notify_api_doc.OPERATIONS
    setup_openapi(app, api, _document_values(settings))
    # the gateway's pages in the site's one layout: notify's base.html, and who is logged in to the procedure
    app[PAGES] = Pages(SiteLayout(jinja2.FileSystemLoader(str(NOTIFY_TEMPLATES / "web")), visitor))
    setup_request_limits(app, settings.server.body_read_timeout_seconds)
    setup_edge_input(app)  # NUL bytes etc. in path, query, form fields, JSON: 404/400/422, never a 500

    app.cleanup_ctx.append(functools.partial(_running, gateway))
    return app


def _document_values(settings: Settings) -> dict[str, list[str]]:
    """This installation's codes for the OpenAPI document's lists (notify.api_doc: `x-enum-from`)."""
    return {
        notify_api_doc.MESSAGE_TYPES: sorted(dict(all_types())),
        notify_api_doc.PARTNER_EANS: sorted(p.ean for p in settings.partners),
        notify_api_doc.CLUSTERS: sorted({c for p in settings.partners for c in p.clusters}),
    }


async def _running(gateway: Gateway, _app: web.Application) -> AsyncIterator[None]:
    """Start everything in order; stop it in reverse (an AsyncExitStack also unwinds a failed start)."""
    g = gateway
    s = g.settings
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(g.database.close)
        stack.callback(g.validation_pool.shutdown, wait=True)
        await _warm_validation_pool(g.validation_pool, g.schema_problems)
        await g.fhir_validator.start()  # in the background: the JVM warms up while OIOXML already flows
        stack.push_async_callback(g.fhir_validator.stop)
        available, reason = g.fhir_validator.status()
        log.info("fhir_validation", available=available, reason=reason)
        g.explain_pool.start()  # the worker process for readable reports of invalid messages
        stack.callback(g.explain_pool.close)
        await g.store.start()
        stack.push_async_callback(g.store.stop)
        if g.database.dialect == "sqlite" and g.database.engine.url.database:
            checkpointer = WalCheckpointer(g.database.engine.url.database)
            await checkpointer.start()
            stack.push_async_callback(checkpointer.stop)
        log.info("store_started", dialect=g.database.dialect)
        await g.worker.start()
        stack.push_async_callback(g.worker.stop)
        log.info("delivery_started", owner=g.worker.owner, push_receivers=len(g.worker.partners))
        await g.leader.start()
        stack.push_async_callback(g.leader.stop)
        swept, purged, ticked = asyncio.Event(), asyncio.Event(), asyncio.Event()
        receipts = sweep_overdue_receipts(
            g.store, s.delivery, g.leader.is_leader, g.missing_receipt_hooks, first_pass=swept
        )
        await stack.enter_async_context(_task(receipts, "receipt-sweep"))
        purge = purge_periodically(
            g.database, g.clock, s.retention.body_days, s.retention.interval_minutes, first_pass=purged
        )
        await stack.enter_async_context(_task(purge, "retention"))
        if g.notify is not None:
            await g.notify.start()
            stack.push_async_callback(g.notify.stop)
        await stack.enter_async_context(_task(g.health_loop.run(first_pass=ticked), "route-health"))
        await _first_passes(
            {"receipt-sweep": swept.wait(), "retention": purged.wait(), "route-health": ticked.wait()},
            g.worker.first_reads(),
        )
        _keep_startup_out_of_collections(stack)
        yield


#: how long start-up waits for the first passes of the loops before answering anyway
FIRST_PASS_TIMEOUT = 60.0


async def _first_passes(loops: dict[str, Coroutine[Any, Any, Any]], delivery: Coroutine[Any, Any, Any]) -> None:
    """Answer requests only after every periodic loop's first pass and the delivery worker's first claims
    and reads. Measured (3 M SQLite store, 300 msg/s): those first passes compile their statements
    (SQLAlchemy: tens of ms each for the receipt sweep's and the health tick's), open pool connections and
    read cold pages on the event loop, and made the first five seconds after a start the slowest of the
    run (p99 204 ms against 38 ms over 10 minutes). A pass that hangs does not keep the service down."""
    names = [*loops, "delivery"]
    tasks = [asyncio.ensure_future(c) for c in (*loops.values(), delivery)]
    done, pending = await asyncio.wait(tasks, timeout=FIRST_PASS_TIMEOUT)
    for task in pending:
        task.cancel()
    late = [name for name, task in zip(names, tasks, strict=True) if task in pending]
    if late:
        log.warning("first_pass_late", loops=late, waited_s=FIRST_PASS_TIMEOUT)
    log.info("first_passes_done", loops=len(done))


def _keep_startup_out_of_collections(stack: contextlib.AsyncExitStack) -> None:
    """Everything started: what exists now lives as long as the process, so later full collections need not
    walk it (edigate.gc_pauses); undone on stop, for a process that builds another app (the tests)."""
    watch = PauseWatch()
    watch.install(asyncio.get_running_loop())
    stack.callback(watch.uninstall)
    frozen = freeze_startup_objects()
    stack.callback(gc.unfreeze)
    log.info("gc_startup_frozen", objects=frozen)


@contextlib.asynccontextmanager
async def _task(coro: Coroutine[Any, Any, None], name: str) -> AsyncIterator[None]:
    """A background loop for as long as the context lasts; cancelled and awaited on exit."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    try:
        yield
    finally:
        task.cancel()
        # never wait for ever: a cancel swallowed below a loop must not hang the shutdown
        await asyncio.wait({task}, timeout=10)
        if not task.done():
            log.error("background_task_did_not_stop", task=name)
        elif not task.cancelled() and task.exception() is not None:
            log.error("background_task_failed", task=name, error=type(task.exception()).__name__)


def _validation_pool(validator: Validator) -> tuple[ThreadPoolExecutor, list[str]]:
    """The validation threads, each with its own compiled schemas, compiled one thread after another.
    Measured: when the first XSD compiles of a process run in several threads at once, libxml2's lazily
    built table of built-in types is corrupted and every compile fails from then on ("Internal error:
    xmlSchemaPValAttrNodeValue, the given type is not a built-in type"); one compile first, then any number
    of threads, works."""
    compile_lock = threading.Lock()
    problems: list[str] = []

    def compile_schemas() -> None:
        with compile_lock:
            problems[:] = validator.check_schemas()

    pool = ThreadPoolExecutor(
        max_workers=VALIDATION_THREADS, thread_name_prefix="medcom-validate", initializer=compile_schemas
    )
    return pool, problems


async def _warm_validation_pool(pool: ThreadPoolExecutor, problems: list[str]) -> None:
    """Start every thread (each compiles its schemas) before the first request."""
    barrier = threading.Barrier(VALIDATION_THREADS)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, barrier.wait, 30) for _ in range(VALIDATION_THREADS)))
    for problem in problems:
        log.warning("schema_unavailable", error=problem[:300])
