"""The OIOXML (MedCom classic Emessage) format adapter: validate against the schemas, XCTL02 receipts.

Validation is synchronous lxml work: small bodies run on the event loop, big ones on the validation
threads (see INLINE_VALIDATION_MAX_BYTES).
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

import structlog

from edigate.ingest.answers import FieldError, MessageAccepted, MessageDuplicate, MessageRejected, error, reply
from edigate.ingest.model import Answer, IngestContext, Parsed, Problem, Refusal
from edigate.medcom import Validator, build_negative_receipt, new_identifier
from edigate.medcom.errors import SchemaUnavailable
from edigate.medcom.model import Envelope, ValidationResult
from edigate.store.model import GeneratedReceipt, IngestOutcome
from edigate.store.states import MessageState

log = structlog.get_logger()

XML_TYPES = ("application/xml", "text/xml")
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
# Bodies up to this size are validated on the event loop (60 µs for a 2 KB XDIS91, 230 µs for a 19 KB
# GGOP): measured under load, the executor hop made each validation cost 3-4x its own CPU time in
# GIL hand-offs between the loop and the validation threads. Bigger bodies still go to the threads so
# that one large message does not stall every other request.
INLINE_VALIDATION_MAX_BYTES = 64 * 1024
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']""")
SYNTAKSFEJL = "syntaksfejl"


def xml_text(data: bytes) -> str:
    """Decode XML bytes by their declared encoding (MedCom classic is windows-1252 / ISO-8859-1)."""
    m = _ENCODING.match(data[:200])
    try:
        return data.decode(m.group(1).decode("ascii") if m else "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


class OioxmlAdapter:
    name = "oioxml"

    def __init__(
        self,
        validator: Validator,
        pool: Callable[[], ThreadPoolExecutor],
        *,
        gateway_ean: str | None,
        observe_validation: Callable[[str | None, float], None],
        explain: Callable[[bytes, ValidationResult], Awaitable[ValidationResult]] | None = None,
    ) -> None:
        self.validator = validator
        # Builds the readable report of an invalid message (edigate.medcom.explain_pool: a bounded worker
        # process). None: the validator builds it itself, in line (the CLI's way; 50-100x a validation).
        self._explain = explain
        self._pool = pool  # the validation threads exist only once the app has started
        self.gateway_ean = gateway_ean
        self._observe = observe_validation

    def content_types(self) -> tuple[str, ...]:
        return XML_TYPES

    async def parse(self, body: bytes, content_type: str) -> Parsed | Answer:
        started = time.perf_counter()
        try:
            validate = functools.partial(self.validator.validate, body, explain=self._explain is None)
            if len(body) <= INLINE_VALIDATION_MAX_BYTES:
                result: ValidationResult = validate()
            else:
                result = await asyncio.get_running_loop().run_in_executor(self._pool(), validate)
        except SchemaUnavailable as exc:
            log.error("schema_unavailable", error=str(exc)[:300])
            return error(503, "skemaet for denne meddelelsestype er ikke installeret på gatewayen")
        self._observe(result.message_type, time.perf_counter() - started)
        if result.explain_schema is not None and self._explain is not None:  # invalid: bounded, off the loop
            result = await self._explain(body, result)
        problems = tuple(Problem(e.message, e.line, e.path) for e in result.errors)
        env = result.envelope
        if env is None or not env.letters or not env.sender.ean:
            return Parsed(
                None,
                result.message_type,
                result.version_code,
                problems,
                None,
                unreadable_code=result.refuse_code or SYNTAKSFEJL,
            )
        refusal: Refusal | None = None
        if not result.valid:
            code = result.refuse_code or SYNTAKSFEJL
            text = "; ".join(e.message for e in result.errors[:5]) or code
            refusal = Refusal(code, text, problems, invalid=True)
        elif len(receivers := {lt.receiver.ean for lt in env.letters}) > 1:
            # One Emessage is one delivery: routing it by its first letter would hand the others to the
            # wrong organisation. (EANs are location numbers, not personal data.)
            text = (
                f"brevene i denne Emessage går til {len(receivers)} forskellige modtagere "
                f"({', '.join(sorted(r or '?' for r in receivers))}): send én Emessage pr. modtager"
            )
            refusal = Refusal("ikke_specificeret", text, (Problem(text),), invalid=False)
        return Parsed(env, result.message_type, result.version_code, problems, refusal)

    def unreadable(self, ctx: IngestContext) -> Answer:
        parsed = ctx.parsed
        assert parsed is not None
        return reply(
            422,
            MessageRejected(
                status="rejected",
                refuse_code=parsed.unreadable_code or SYNTAKSFEJL,
                errors=[_field_error(p) for p in parsed.problems],
                receipt=None,
                reason="meddelelsen kunne ikke læses så langt, at den kan besvares med en kvittering",
            ),
        )

    def routing_refusal(self, parsed: Parsed, code: str, reason: str) -> Refusal:
        return Refusal(code, reason, (Problem(reason),), invalid=False)

    def negative(self, parsed: Parsed, refusal: Refusal, now: datetime) -> GeneratedReceipt | None:
        env = parsed.envelope
        assert env is not None
        if env.is_receipt:  # receipts are never answered with a receipt
            return None
        receipt_sender = self.gateway_ean or env.receiver.ean
        if not receipt_sender:
            return None
        envelope_id = new_identifier("N")
        letter_id = new_identifier("N")
        sent = now.astimezone(DANISH_TIME).replace(tzinfo=None)
        try:
            body = build_negative_receipt(
                env,
                envelope_id=envelope_id,
                letter_id=letter_id,
                sent=sent,
                refuse_code=refusal.code,
                refuse_text=refusal.text or refusal.code,
                sender_ean=receipt_sender,
            )
        except ValueError as exc:
            log.warning("negative_receipt_not_built", envelope_id=env.id, error=str(exc)[:200])
            return None
        return GeneratedReceipt(body=body, envelope_id=envelope_id, letter_id=letter_id, sender_ean=receipt_sender)

    def answer(self, ctx: IngestContext) -> Answer:
        outcome, parsed = ctx.outcome, ctx.parsed
        assert outcome is not None and parsed is not None and parsed.envelope is not None
        env = parsed.envelope
        letters = [lt.id for lt in env.letters]
        if outcome.kind == "accepted":
            _log_outcome("message_accepted", outcome, env, type=env.message_type)
            return reply(
                202,
                MessageAccepted(
                    id=outcome.id, status="accepted", type=env.message_type, envelope_id=env.id, letters=letters
                ),
            )
        if outcome.kind == "rejected":
            _log_outcome(
                "message_rejected",
                outcome,
                env,
                refuse_code=outcome.refuse_code,
                receipt_queued=outcome.queued_receipt_id,
            )
            receipt = ctx.negative
            problems = ctx.refusal.problems if ctx.refusal else parsed.problems
            return reply(
                422,
                MessageRejected(
                    id=outcome.id,
                    status="rejected",
                    refuse_code=outcome.refuse_code,
                    errors=[_field_error(p) for p in problems],
                    receipt=xml_text(receipt.body) if receipt else None,
                    receipt_id=outcome.queued_receipt_id,
                    reason=outcome.refuse_text,
                    envelope_id=env.id,
                    letters=letters,
                ),
            )
        if outcome.kind == "duplicate":
            _log_outcome("message_duplicate", outcome, env, receipt_resent=outcome.receipt_resent)
            return reply(
                200,
                MessageDuplicate(
                    duplicate=True,
                    id=outcome.id,
                    status="rejected" if outcome.state == MessageState.REJECTED else "accepted",
                    state=outcome.state,
                    refuse_code=outcome.refuse_code,
                    receipt_resent=outcome.receipt_resent,
                    envelope_id=env.id,
                    letters=letters,
                ),
            )
        log.info("message_conflict", envelope_id=env.id, route=_route(env), original=outcome.id)
        return reply(
            422,
            MessageRejected(
                status="rejected",
                refuse_code=outcome.refuse_code or "ikke_specificeret",
                errors=[FieldError(message=outcome.refuse_text, line=None, path=None)],
                receipt=None,
                reason=outcome.refuse_text,
                envelope_id=env.id,
            ),
        )


def _field_error(p: Problem) -> FieldError:
    return FieldError(message=p.message, line=p.line, path=p.path)


def _route(env: Envelope) -> str:
    return f"{env.sender.ean}->{env.receiver.ean}"


def _log_outcome(event: str, outcome: IngestOutcome, env: Envelope, **fields: object) -> None:
    """One log line per answered message: the same keys for every outcome, plus the outcome's own."""
    log.info(event, message_id=outcome.id, envelope_id=env.id, route=_route(env), **fields)
