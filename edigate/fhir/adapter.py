"""The MedCom FHIR format adapter: read, validate with the HL7 reference validator, Acknowledgements.

Beside OIOXML in the ingest pipeline (edigate.ingest.pipeline). What it decides itself is only what the
reference validator cannot: whether the body is a FHIR message at all, its standard, its addressing, and
the gateway's own refusals (unknown receiver, a receiver that does not take the standard, a Bundle.id used
twice). Every profile verdict is the validator's, passed through as it gave it (CPR scrubbed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

import structlog

from edigate.clock import Clock
from edigate.fhir.acknowledgement import (
    RECEIVER_CANNOT_RECEIVE,
    RECEIVER_UNKNOWN,
    AckIssue,
    build_acknowledgement,
    can_acknowledge,
)
from edigate.fhir.reading import FHIR_NS, FhirMessage, FhirUnreadable, read_message
from edigate.fhir.serialize import encode
from edigate.fhir.standards import ACKNOWLEDGEMENT, BY_NAME
from edigate.fhir.validation import FhirValidator, FhirValidatorBusy, FhirValidatorUnavailable
from edigate.ingest.answers import (
    FhirUnavailable,
    FieldError,
    MessageAccepted,
    MessageDuplicate,
    MessageRejected,
    reply,
)
from edigate.ingest.model import Answer, IngestContext, Parsed, Problem, Refusal
from edigate.medcom.model import Envelope, Letter, OriginalLetterRef, Party, ReceiptContent
from edigate.store.model import FHIR_JSON, FHIR_XML, GeneratedReceipt
from edigate.store.states import MessageState

log = structlog.get_logger()

CONTENT_TYPES = ("application/fhir+json", "application/fhir+xml", "application/json", "application/xml", "text/xml")
FATAL_ERROR = "fatal-error"
TRANSIENT_ERROR = "transient-error"
RETRY_AFTER_SECONDS = 30
RETRY_AFTER_BUSY_SECONDS = 10  # a full queue empties in seconds; a validator that is down takes longer
UNAVAILABLE_TEXT = (
    "FHIR-validering er ikke mulig lige nu; send meddelelsen igen senere (FHIR validation is unavailable now; "
    "send the message again later)"
)
BUSY_TEXT = (
    "FHIR-valideringen har for mange meddelelser i kø lige nu; send meddelelsen igen om lidt (the FHIR "
    "validator is busy; send the message again shortly)"
)
# the JSON answer when no Acknowledgement can be made (e.g. to an Acknowledgement): Danish, as every reason
UNAVAILABLE_REASON = "FHIR-validering er ikke mulig lige nu: send meddelelsen igen senere"
BUSY_REASON = "FHIR-valideringen har for mange meddelelser i kø lige nu: send meddelelsen igen om lidt"
_HEADER = "Bundle.entry[0].resource"


def envelope_of(msg: FhirMessage) -> Envelope:
    """The message as the store keeps every message: Bundle.id is the envelope id, MessageHeader.id the one
    letter id (MedCom: a resend keeps the MessageHeader.id and gets a new Bundle.id, as a classic resend
    keeps its letter ids), the GLNs are the EANs."""
    standard = msg.standard or "FHIR"
    spec = BY_NAME.get(standard)
    version = spec.package.version if spec else None
    letter = Letter(
        id=msg.header_id or "",
        type=standard,
        root="Bundle",
        version_code=version,
        statistical_code=None,
        status=None,
        sender=Party(msg.sender_gln),
        receiver=Party(msg.receiver_gln),
    )
    receipt = None
    if standard == ACKNOWLEDGEMENT.name:
        ok = msg.response_code == "ok"
        receipt = ReceiptContent(
            kind="positive" if ok else "negative",
            original_envelope_id=msg.response_id or "",  # for FHIR: the answered MessageHeader.id
            original_sender_ean=msg.receiver_gln,
            original_receiver_ean=None,
            original_letters=(OriginalLetterRef(msg.response_id, None),) if msg.response_id else (),
            refuse_code=None if ok else msg.response_code,
            refuse_text=None if ok else msg.response_text,
        )
    return Envelope(
        id=msg.bundle_id or "",
        sent=None,
        acknowledgement_code=None if receipt is not None else "pluspositivkvitt",
        namespace=FHIR_NS,
        message_type=standard,
        letters=(letter,),
        receipt=receipt,
    )


def _unanswerable(msg: FhirMessage) -> tuple[Problem, ...]:
    """What keeps the gateway from answering the message with an Acknowledgement at all."""
    out = []
    if msg.bundle_type != "message":
        out.append(Problem("Bundle.type skal være 'message'", path="Bundle.type", code="value"))
    if not msg.bundle_id:
        out.append(Problem("Bundle.id mangler", path="Bundle.id", code="required"))
    if not msg.header_id:
        out.append(
            Problem("den første entry skal være en MessageHeader med id", path="Bundle.entry[0]", code="required")
        )
    if not msg.sender_gln:
        out.append(
            Problem(
                "MessageHeader.sender skal henvise til en Organization i Bundle med et GLN-nummer "
                "(identifier system https://www.gs1.org/gln)",
                path=f"{_HEADER}.sender",
                code="required",
            )
        )
    return tuple(out)


class FhirAdapter:
    name = "fhir"

    def __init__(
        self,
        validator: Callable[[], FhirValidator],
        clock: Clock,
        *,
        max_bytes: int,
        observe_validation: Callable[[str | None, float], None],
    ) -> None:
        self._validator = validator
        self.clock = clock
        self.max_bytes = max_bytes
        self._observe = observe_validation

    def content_types(self) -> tuple[str, ...]:
        return CONTENT_TYPES

    # ------------------------------------------------------------------------------------ reading

    async def parse(self, body: bytes, content_type: str) -> Parsed | Answer:
        try:
            msg = read_message(body, max_bytes=self.max_bytes)
        except FhirUnreadable as exc:
            return Parsed(None, None, None, (Problem(str(exc), code="structure"),), None, unreadable_code="unreadable")
        problems = _unanswerable(msg)
        if problems:
            return Parsed(None, msg.standard, None, problems, None, unreadable_code="422", extra=msg)
        env = envelope_of(msg)
        version = env.letters[0].version_code
        if msg.standard is None:
            text = (
                f"MessageHeader.eventCoding {msg.event_code or '(mangler)'} er ikke en af de standarder gatewayen "
                "tager imod (CareCommunication, HospitalNotification, Acknowledgement)"
            )
            problem = Problem(text, path=f"{_HEADER}.event", code="not-supported", expressions=(f"{_HEADER}.event",))
            unknown = Refusal(FATAL_ERROR, text, (problem,), True)
            return Parsed(env, "FHIR", None, (problem,), unknown, format=_format(msg), extra=msg)
        started = time.perf_counter()
        try:
            result = await self._validator().validate(msg.standard, body, msg.media_type)
        except FhirValidatorBusy as exc:
            return self._unavailable(msg, exc.reason, busy=True)
        except FhirValidatorUnavailable as exc:
            return self._unavailable(msg, exc.reason)
        self._observe(msg.standard, time.perf_counter() - started)
        problems = tuple(
            Problem(
                msg.scrub(i.diagnostics) or i.code,
                path=msg.scrub(i.expression[0]) if i.expression else None,
                severity=i.severity,
                code=i.code,
                expressions=tuple(msg.scrub(e) for e in i.expression),
            )
            for i in result.errors
        )
        refusal: Refusal | None = None
        if problems:
            text = "; ".join(p.message for p in problems[:5])[:2000]
            refusal = Refusal(FATAL_ERROR, text, problems, invalid=True)
        return Parsed(env, msg.standard, version, problems, refusal, format=_format(msg), extra=msg)

    def _unavailable(self, msg: FhirMessage, reason: str, *, busy: bool = False) -> Answer:
        """503: validation cannot run now (or the validator's queue is full). MedCom's transient-error tells
        the sender to send it again; Retry-After says when."""
        if busy:
            log.info("fhir_validation_busy", bundle_id=msg.bundle_id, reason=reason[:300])
        else:
            log.warning("fhir_validation_unavailable", bundle_id=msg.bundle_id, reason=reason[:300])
        headers = {"Retry-After": str(RETRY_AFTER_BUSY_SECONDS if busy else RETRY_AFTER_SECONDS)}
        if can_acknowledge(msg) and msg.standard != ACKNOWLEDGEMENT.name:
            # FHIR IssueType: throttled = "not prepared to handle this request due to load management"
            issue = AckIssue("error", "throttled" if busy else "transient", BUSY_TEXT if busy else UNAVAILABLE_TEXT)
            ack = build_acknowledgement(msg, TRANSIENT_ERROR, (issue,), self.clock())
            return Answer(503, body=ack.body, content_type=ack.media_type, headers=headers)
        reason = BUSY_REASON if busy else UNAVAILABLE_REASON
        return reply(503, FhirUnavailable(status="error", format="fhir", reason=reason), headers=headers)

    def unreadable(self, ctx: IngestContext) -> Answer:
        parsed = ctx.parsed
        assert parsed is not None
        status = 422  # as OIOXML's unreadable messages: refused, and nothing to acknowledge
        issues = [
            {
                "severity": "error",
                "code": p.code or "structure",
                "diagnostics": p.message,
                **({"expression": [p.path]} if p.path else {}),
            }
            for p in parsed.problems
        ]
        outcome = {"resourceType": "OperationOutcome", "issue": issues}
        encoding = "xml" if "xml" in ctx.request.content_type else "json"
        media = "application/fhir+xml" if encoding == "xml" else "application/fhir+json"
        return Answer(status, body=encode(outcome, encoding), content_type=media)

    # ------------------------------------------------------------------------------------ refusals

    def routing_refusal(self, parsed: Parsed, code: str, reason: str) -> Refusal:
        msg: FhirMessage = parsed.extra
        where = f"{_HEADER}.destination[0].receiver"
        if code == "ukendt_lokationsnummer":
            text = f"modtageren {msg.receiver_gln or '(uden GLN)'} er ukendt for gatewayen"
            problem = Problem(text, path=where, code="not-found", detail_code=RECEIVER_UNKNOWN, expressions=(where,))
        elif code == "problem_med_version":
            text = f"modtageren kan ikke modtage {parsed.standard}"
            problem = Problem(
                text, path=where, code="not-supported", detail_code=RECEIVER_CANNOT_RECEIVE, expressions=(where,)
            )
        else:
            text = reason
            problem = Problem(text, code="processing")
        return Refusal(FATAL_ERROR, text, (problem,), invalid=False)

    def negative(self, parsed: Parsed, refusal: Refusal, now: datetime) -> GeneratedReceipt | None:
        msg: FhirMessage = parsed.extra
        if msg.standard == ACKNOWLEDGEMENT.name or not can_acknowledge(msg):
            return None  # an Acknowledgement is never acknowledged
        ack = build_acknowledgement(msg, FATAL_ERROR, _ack_issues(refusal.problems), now)
        return GeneratedReceipt(
            body=ack.body,
            envelope_id=ack.bundle_id,
            letter_id=ack.header_id,
            sender_ean=msg.receiver_gln or "",
            type=ACKNOWLEDGEMENT.name,
            version_code=ACKNOWLEDGEMENT.package.version,
            format=_format(msg),
        )

    # ------------------------------------------------------------------------------------ replies

    def answer(self, ctx: IngestContext) -> Answer:
        outcome, parsed = ctx.outcome, ctx.parsed
        assert outcome is not None and parsed is not None and parsed.envelope is not None
        msg: FhirMessage = parsed.extra
        ids = {"bundle_id": msg.bundle_id, "message_header_id": msg.header_id}
        bundle_id, header_id = msg.bundle_id, msg.header_id
        route = f"{msg.sender_gln}->{msg.receiver_gln}"
        if outcome.kind == "accepted":
            log.info("message_accepted", message_id=outcome.id, route=route, type=parsed.standard, **ids)
            return reply(
                202,
                MessageAccepted(
                    id=outcome.id,
                    status="accepted",
                    format="fhir",
                    type=parsed.standard,
                    bundle_id=bundle_id,
                    message_header_id=header_id,
                ),
            )
        if outcome.kind == "rejected":
            log.info(
                "message_rejected",
                message_id=outcome.id,
                route=route,
                type=parsed.standard,
                acknowledgement_queued=outcome.queued_receipt_id,
                **ids,
            )
            if ctx.negative is not None:
                return Answer(422, body=ctx.negative.body, content_type=msg.media_type)
            problems = ctx.refusal.problems if ctx.refusal else parsed.problems
            return self._refused_json(outcome.id, outcome.refuse_text or "", problems, msg)
        if outcome.kind == "duplicate":
            log.info("message_duplicate", message_id=outcome.id, route=route, state=outcome.state, **ids)
            if outcome.state == MessageState.REJECTED and outcome.receipt_body:
                # a negative duplicate: the identical Acknowledgement the original got (MedCom 020/032, MR8)
                return Answer(422, body=outcome.receipt_body, content_type=_media_type_of(outcome.receipt_body))
            return reply(
                200,
                MessageDuplicate(
                    duplicate=True,
                    id=outcome.id,
                    status="rejected" if outcome.state == MessageState.REJECTED else "accepted",
                    state=outcome.state,
                    format="fhir",
                    acknowledgement_resent=outcome.receipt_resent,
                    bundle_id=bundle_id,
                    message_header_id=header_id,
                ),
            )
        log.info("message_conflict", route=route, original=outcome.id, **ids)
        text = (
            f"Bundle.id {msg.bundle_id} er allerede brugt af afsenderen til en anden meddelelse "
            "(en ny meddelelse skal have et nyt Bundle.id)"
            if msg.standard != ACKNOWLEDGEMENT.name
            else (outcome.refuse_text or "afvist")
        )
        if msg.standard != ACKNOWLEDGEMENT.name and can_acknowledge(msg):
            issue = AckIssue("error", "duplicate", text, ("Bundle.id",))
            ack = build_acknowledgement(msg, FATAL_ERROR, (issue,), self.clock())
            return Answer(422, body=ack.body, content_type=ack.media_type)
        return self._refused_json(None, text, (Problem(text),), msg)

    @staticmethod
    def _refused_json(mid: int | None, reason: str, problems: tuple[Problem, ...], msg: FhirMessage) -> Answer:
        return reply(
            422,
            MessageRejected(
                id=mid,
                status="rejected",
                format="fhir",
                reason=reason,
                errors=[FieldError(message=p.message, path=p.path, severity=p.severity) for p in problems],
                bundle_id=msg.bundle_id,
                message_header_id=msg.header_id,
            ),
        )


def _ack_issues(problems: tuple[Problem, ...]) -> tuple[AckIssue, ...]:
    return tuple(
        AckIssue(
            p.severity if p.severity in ("error", "fatal") else "error",
            p.code or "processing",
            p.message,
            p.expressions or ((p.path,) if p.path else ()),
            p.detail_code,
        )
        for p in problems
    )


def _format(msg: FhirMessage) -> str:
    return FHIR_JSON if msg.encoding == "json" else FHIR_XML


def _media_type_of(body: bytes) -> str:
    return "application/fhir+json" if body.lstrip()[:1] == b"{" else "application/fhir+xml"
