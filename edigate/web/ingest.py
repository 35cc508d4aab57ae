"""POST /api/v1/messages: authenticate, validate (off the event loop), authorise, route, commit, reply.

202 is sent only after the group-commit COMMIT that made the message durable; when the store cannot
commit the answer is 503, never a false 202.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web

from edigate.medcom import build_negative_receipt, new_identifier
from edigate.medcom.ean import envelope_ean_problem
from edigate.medcom.errors import SchemaUnavailable
from edigate.medcom.model import Envelope, ValidationResult
from edigate.store.correlation import receipt_sender_refusal
from edigate.store.group_commit import StorageUnavailable
from edigate.store.model import GeneratedReceipt, IngestItem, IngestOutcome
from edigate.web.auth import caller_of, unauthorized
from edigate.web.errors import error
from edigate.web.keys import CLOCK, DIRECTORY, SETTINGS, STORE, VALIDATION_POOL, VALIDATOR, WORKER
from edigate.web.metrics_api import record_received, record_validation

log = structlog.get_logger()

XML_TYPES = ("application/xml", "text/xml")
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
# Bodies up to this size are validated on the event loop (60 µs for a 2 KB XDIS91, 230 µs for a 19 KB
# GGOP): measured under load, the executor hop made each validation cost 3-4x its own CPU time in
# GIL hand-offs between the loop and the validation threads. Bigger bodies still go to the threads so
# that one large message does not stall every other request.
INLINE_VALIDATION_MAX_BYTES = 64 * 1024
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")


def xml_text(data: bytes) -> str:
    """Decode XML bytes by their declared encoding (MedCom classic is windows-1252 / ISO-8859-1)."""
    m = _ENCODING.match(data[:200])
    try:
        return data.decode(m.group(1).decode("ascii") if m else "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


async def post_message(request: web.Request) -> web.Response:
    app = request.app
    caller = caller_of(request)
    if caller is None:
        record_received(app, None, None, None, "unauthorized")
        return unauthorized()
    if request.content_type not in XML_TYPES:
        record_received(app, None, None, None, "refused")
        return error(
            415,
            f"Content-Type must be application/xml or text/xml, not {request.content_type!r}",
            kind="rejected",
        )
    max_bytes = app[SETTINGS].server.max_body_bytes
    if request.content_length is not None and request.content_length > max_bytes:
        record_received(app, None, None, None, "refused")
        return error(413, f"message too big: the limit is {max_bytes} bytes", kind="rejected")
    body = await request.read()  # aiohttp enforces client_max_size for chunked bodies (-> 413)

    started = time.perf_counter()
    try:
        if len(body) <= INLINE_VALIDATION_MAX_BYTES:
            result: ValidationResult = app[VALIDATOR].validate(body)
        else:
            result = await asyncio.get_running_loop().run_in_executor(
                app[VALIDATION_POOL], app[VALIDATOR].validate, body
            )
    except SchemaUnavailable as exc:
        log.error("schema_unavailable", error=str(exc)[:300])
        record_received(app, None, None, None, "error")
        return error(503, "the schema for this message type is not installed on the gateway")
    record_validation(app, result.message_type, time.perf_counter() - started)

    env = result.envelope
    errors = [{"message": e.message, "line": e.line, "path": e.path} for e in result.errors]
    if env is None or not env.letters or not env.sender.ean:
        record_received(app, result.message_type, None, None, "invalid")
        return web.json_response(
            {
                "status": "rejected",
                "refuse_code": result.refuse_code or "syntaksfejl",
                "errors": errors,
                "receipt": None,
                "reason": "the message could not be read far enough to answer it with a receipt",
            },
            status=422,
        )

    if (bad_ean := envelope_ean_problem(env)) is not None:
        # before anything else: a CPR typed into an EAN field is never echoed, counted or stored
        record_received(app, result.message_type, None, None, "refused")
        return web.json_response(
            {
                "status": "rejected",
                "refuse_code": "ukendt_lokationsnummer",
                "errors": [{"message": bad_ean, "line": None, "path": None}],
                "receipt": None,
                "reason": bad_ean,
            },
            status=422,
        )

    senders = {lt.sender.ean for lt in env.letters}
    if not caller.is_admin and not senders <= caller.eans:
        record_received(app, result.message_type, env.sender.ean, env.receiver.ean, "unauthorized")
        return error(
            403,
            f"Sender EAN {', '.join(sorted(s or '?' for s in senders))} is not one of yours",
            kind="rejected",
        )
    if caller.is_admin:
        return error(403, "an admin token cannot send messages", kind="rejected")

    if result.valid and (forged := receipt_sender_refusal(env)) is not None:
        # nothing is stored: a receipt from anyone but the original's receiver must change nothing
        record_received(app, result.message_type, env.sender.ean, env.receiver.ean, "refused")
        return error(422, forged, kind="rejected", refuse_code="ikke_specificeret")

    directory = app[DIRECTORY]
    refuse_code: str | None = None
    refuse_text: str | None = None
    if not result.valid:
        refuse_code = result.refuse_code or "syntaksfejl"
        refuse_text = "; ".join(e.message for e in result.errors[:5]) or refuse_code
    elif len(receivers := {lt.receiver.ean for lt in env.letters}) > 1:
        # One Emessage is one delivery: routing it by its first letter would hand the others to the wrong
        # organisation. (EANs are location numbers, not personal data.)
        refuse_code = "ikke_specificeret"
        refuse_text = (
            f"the letters of this Emessage go to {len(receivers)} different receivers "
            f"({', '.join(sorted(r or '?' for r in receivers))}): send one Emessage per receiver"
        )
        errors = [{"message": refuse_text, "line": None, "path": None}]
    else:
        verdict = directory.route(
            env.receiver.ean, result.message_type, result.version_code, is_receipt=env.is_receipt
        )
        if not verdict.ok:
            refuse_code, refuse_text = verdict.refuse_code, verdict.reason
            errors = [{"message": verdict.reason, "line": None, "path": None}]

    item = IngestItem(env, body)
    receipt_xml: bytes | None = None
    if refuse_code is not None:
        receipt = None
        if not env.is_receipt:  # receipts are never answered with a receipt
            receipt = _negative_receipt(app, env, refuse_code, refuse_text or refuse_code)
            receipt_xml = receipt.body if receipt else None
        item = IngestItem(
            env, body, rejected=True, refuse_code=refuse_code, refuse_text=refuse_text, receipt=receipt
        )

    try:
        outcome = await app[STORE].accept(item)
    except StorageUnavailable:
        record_received(app, result.message_type, env.sender.ean, env.receiver.ean, "error")
        return error(503, "storage unavailable: the message was NOT accepted, send it again later")
    received = {"accepted": "accepted", "duplicate": "duplicate", "conflict": "refused"}.get(outcome.kind)
    if received is None:  # rejected: a schema/syntax error or a routing refusal
        received = "invalid" if not result.valid else "refused"
    record_received(app, result.message_type, env.sender.ean, env.receiver.ean, received)

    _wake(app, outcome)
    route = f"{env.sender.ean}->{env.receiver.ean}"
    return _reply(outcome, env, route, errors, receipt_xml)


def _negative_receipt(
    app: web.Application, env: Envelope, refuse_code: str, refuse_text: str
) -> GeneratedReceipt | None:
    settings = app[SETTINGS]
    receipt_sender = settings.medcom.gateway_ean or env.receiver.ean
    if not receipt_sender:
        return None
    envelope_id = new_identifier("N")
    letter_id = new_identifier("N")
    now = app[CLOCK]().astimezone(DANISH_TIME).replace(tzinfo=None)
    try:
        body = build_negative_receipt(
            env,
            envelope_id=envelope_id,
            letter_id=letter_id,
            sent=now,
            refuse_code=refuse_code,
            refuse_text=refuse_text,
            sender_ean=receipt_sender,
        )
    except ValueError as exc:
        log.warning("negative_receipt_not_built", envelope_id=env.id, error=str(exc)[:200])
        return None
    return GeneratedReceipt(
        body=body, envelope_id=envelope_id, letter_id=letter_id, sender_ean=receipt_sender
    )


def _wake(app: web.Application, outcome: IngestOutcome) -> None:
    worker = app.get(WORKER)
    if worker is not None and outcome.woken:
        worker.wake(outcome.woken)


def _reply(
    outcome: IngestOutcome, env: Envelope, route: str, errors: list[dict[str, Any]], receipt_xml: bytes | None
) -> web.Response:
    letters = [lt.id for lt in env.letters]
    if outcome.kind == "accepted":
        log.info(
            "message_accepted", message_id=outcome.id, envelope_id=env.id, route=route, type=env.message_type
        )
        return web.json_response(
            {
                "id": outcome.id,
                "status": "accepted",
                "type": env.message_type,
                "envelope_id": env.id,
                "letters": letters,
            },
            status=202,
        )
    if outcome.kind == "rejected":
        log.info(
            "message_rejected",
            message_id=outcome.id,
            envelope_id=env.id,
            route=route,
            refuse_code=outcome.refuse_code,
            receipt_queued=outcome.queued_receipt_id,
        )
        return web.json_response(
            {
                "id": outcome.id,
                "status": "rejected",
                "refuse_code": outcome.refuse_code,
                "errors": errors,
                "receipt": xml_text(receipt_xml) if receipt_xml else None,
                "receipt_id": outcome.queued_receipt_id,
                "reason": outcome.refuse_text,
                "envelope_id": env.id,
                "letters": letters,
            },
            status=422,
        )
    if outcome.kind == "duplicate":
        log.info(
            "message_duplicate",
            message_id=outcome.id,
            envelope_id=env.id,
            route=route,
            receipt_resent=outcome.receipt_resent,
        )
        return web.json_response(
            {
                "duplicate": True,
                "id": outcome.id,
                "status": "rejected" if outcome.state == "rejected" else "accepted",
                "state": outcome.state,
                "refuse_code": outcome.refuse_code,
                "receipt_resent": outcome.receipt_resent,
                "envelope_id": env.id,
                "letters": letters,
            },
            status=200,
        )
    log.info("message_conflict", envelope_id=env.id, route=route, original=outcome.id)
    return web.json_response(
        {
            "status": "rejected",
            "refuse_code": outcome.refuse_code or "ikke_specificeret",
            "errors": [{"message": outcome.refuse_text, "line": None, "path": None}],
            "receipt": None,
            "reason": outcome.refuse_text,
            "envelope_id": env.id,
        },
        status=422,
    )
