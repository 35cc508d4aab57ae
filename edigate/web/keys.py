"""Typed application state (aiohttp AppKey): one key per shared object of the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiohttp import web

from edigate.clock import Clock
from edigate.config import GatewaySettings
from edigate.delivery.worker import DeliveryWorker
from edigate.ingest.pipeline import IngestPipeline
from edigate.medcom import Validator
from edigate.medcom.explain_pool import ExplainPool
from edigate.routing import PartnerDirectory
from edigate.store.db import Database
from edigate.store.messages import MessageStore
from edigate.store.model import AckAlert

AckAlertHook = Callable[[AckAlert], Awaitable[None]]

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
ACK_ALERT_HOOKS: web.AppKey[list[AckAlertHook]] = web.AppKey("edigate.ack_alert_hooks")
NOTIFY: web.AppKey[Any] = web.AppKey("edigate.notify")  # notify.service.NotifyService when wired
# edigate.fhir.factory.AnyFhirValidator: a FhirValidator (edigate.fhir.validation) with start()/stop()
FHIR_VALIDATOR: web.AppKey[Any] = web.AppKey("edigate.fhir_validator")
