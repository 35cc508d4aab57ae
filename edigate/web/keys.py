"""Typed application state (aiohttp AppKey): one key per shared object the HTTP handlers read.

`edigate.app` builds every object and sets every key before the app starts; handlers only read them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from aiohttp import web

from edigate.clock import Clock
from edigate.config import GatewaySettings
from edigate.delivery.worker import DeliveryWorker
from edigate.fhir.factory import AnyFhirValidator
from edigate.ingest.pipeline import IngestPipeline
from edigate.medcom import Validator
from edigate.medcom.explain_pool import ExplainPool
from edigate.metrics import Metrics
from edigate.monitor import HealthLoop
from edigate.routing import PartnerDirectory
from edigate.store.db import Database
from edigate.store.leader import LeaderElection
from edigate.store.messages import MessageStore
from edigate.web.pages import Pages


@dataclass(frozen=True)
class MailRelay:
    """Where the outage procedure's mails go, for `/readyz` (`kind` "smtp": host and port; "directory": a
    folder)."""

    kind: str
    host: str
    port: int
    directory: str


SETTINGS = web.AppKey("edigate.settings", GatewaySettings)
CLOCK: web.AppKey[Clock] = web.AppKey("edigate.clock")
DATABASE = web.AppKey("edigate.database", Database)
STORE = web.AppKey("edigate.store", MessageStore)
DIRECTORY = web.AppKey("edigate.directory", PartnerDirectory)
VALIDATOR = web.AppKey("edigate.validator", Validator)
VALIDATION_POOL = web.AppKey("edigate.validation_pool", ThreadPoolExecutor)
EXPLAIN_POOL = web.AppKey("edigate.explain_pool", ExplainPool)  # readable reports of invalid messages
WORKER = web.AppKey("edigate.delivery_worker", DeliveryWorker)
INGEST = web.AppKey("edigate.ingest", IngestPipeline)
LEADER = web.AppKey("edigate.leader", LeaderElection)
HEALTH_LOOP = web.AppKey("edigate.health_loop", HealthLoop)
PAGES = web.AppKey("edigate.pages", Pages)  # the gateway's pages in the site's layout
METRICS: web.AppKey[Metrics | None] = web.AppKey("edigate.metrics")  # None: [metrics] enabled = false
MAIL_RELAY: web.AppKey[MailRelay | None] = web.AppKey("edigate.mail_relay")  # None: no [notify]
EXPLAIN_POOL = web.AppKey("edigate.explain_pool", ExplainPool)  # readable reports of invalid messages
FHIR_VALIDATOR: web.AppKey[AnyFhirValidator] = web.AppKey("edigate.fhir_validator")  # start()/stop()
