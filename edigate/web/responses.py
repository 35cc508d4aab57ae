"""The JSON bodies of the gateway's API (messages, mailbox, routes, health), as pydantic models.

Handlers build their answers from these models (`json_reply`), and the OpenAPI document is generated from
the same models (`edigate.web.openapi`), so what the server sends and what the document says cannot drift.
A field with a default is optional: it is in the JSON only when the handler set it. `POST /api/v1/messages`
answers with the models of `edigate.ingest.answers`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, PlainSerializer, WithJsonSchema

from edigate.ingest.answers import ApiError, ApiModel, MessageStateName
from edigate.store.correlation import partner_text
from edigate.store.states import DeliveryState
from edigate.web.apispec import Reply, reply

__all__ = ["UNAUTHORIZED", "ApiError", "ApiModel", "error_doc", "error_reply", "json_reply"]


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


#: a stored time as the API writes it: ISO 8601, UTC as `Z`
Instant = Annotated[
    datetime, PlainSerializer(_instant, return_type=str), WithJsonSchema({"type": "string", "format": "date-time"})
]
#: a refuse text as partners may read it (also rows stored before it was scrubbed on the way in)
PartnerText = Annotated[str, PlainSerializer(partner_text, return_type=str)]
Ean = Annotated[str, Field(description="EAN/GLN location number")]
DeliveryStateName = Annotated[str, WithJsonSchema({"type": "string", "enum": [s.value for s in DeliveryState]})]
#: a push receiver's circuit breaker (edigate.delivery.policy.Circuit)
CircuitName = Annotated[str, WithJsonSchema({"type": "string", "enum": ["closed", "open", "half_open"]})]


def json_reply(body: ApiModel, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """The one way a gateway handler answers with JSON: the body comes from its model (serialised by
    pydantic itself: a 1000-row message page costs what json.dumps of the dicts did)."""
    text = body.model_dump_json(exclude_unset=True)
    return web.Response(text=text, status=status, headers=headers, content_type="application/json")


def error_reply(status: int, reason: str, *, kind: Literal["error", "rejected"] = "error") -> web.Response:
    return json_reply(ApiError(status=kind, reason=reason), status)


class RefusedAtTheEdge(ApiError):
    """A request refused before any handler ran (edigate.web.edge_input), or one the storage could not
    serve (503, edigate.web.storage_trouble): both error bodies in one, since it may be a gateway or an
    outage-procedure path (`fejl`/`felter` in Danish as the procedure's own answers)."""

    fejl: str
    felter: dict[str, str] | None = None


# ---------------------------------------------------------------------------------------------- messages


class MessageMeta(ApiModel):
    """Metadata only: the body (which holds the CPR) is never listed."""

    id: int
    envelope_id: str
    sender_ean: Ean
    receiver_ean: Ean
    type: str = Field(description="MedCom type code (XDIS91) or FHIR standard (CareCommunication)")
    version_code: str | None
    ack_requested: bool
    is_receipt: bool
    generated: bool = Field(description="built by the gateway (a negative receipt or Acknowledgement)")
    state: MessageStateName
    delivery_state: DeliveryStateName
    refuse_code: str | None
    refuse_text: PartnerText | None
    body_size: int
    created_at: Instant
    updated_at: Instant
    delivered_at: Instant | None
    receipt_at: Instant | None
    attempts: int
    next_attempt_at: Instant | None
    last_error: str | None
    lease_until: Instant | None = Field(description="mailbox: leased to a fetch until then")
    receipt_for_id: int | None = Field(description="this receipt answers that message")
    receipt_id: int | None = Field(description="the receipt that answered this message")
    resend_of_id: int | None = Field(description="a re-sent copy of that receipt")
    ack_alerted_at: Instant | None
    format: str | None = Field(description="fhir+json or fhir+xml; null: OIOXML")


class LetterState(ApiModel):
    letter_id: str = Field(description="OIOXML letter id, or the FHIR MessageHeader.id")
    version_code: str | None
    status_code: str | None
    receipt_state: str | None
    refuse_code: str | None
    refuse_text: PartnerText | None
    receipt_at: Instant | None


class HistoryEvent(ApiModel):
    at: Instant
    event: str
    detail: str | None


class MessageDetail(MessageMeta):
    """One message with its letters and history; the body only for an admin."""

    letters: list[LetterState]
    history: list[HistoryEvent]
    body: str | None = Field(None, description="admin only: the message as text")
    body_base64: str | None = Field(None, description="admin only: the stored bytes")


class MessageList(ApiModel):
    messages: list[MessageMeta]
    count: int
    next_cursor: str | None = Field(
        None, description="present when the page is full: pass it as `cursor` for the next page"
    )


class Queued(ApiModel):
    id: int
    status: Literal["queued"]


# ---------------------------------------------------------------------------------------------- mailbox


class MailboxMessage(ApiModel):
    id: int
    envelope_id: str
    sender: Ean
    receiver: Ean
    type: str
    xml: str = Field(description="the message as text (FHIR JSON too: a historic name)")
    xml_base64: str
    content_type: str


class MailboxBatch(ApiModel):
    messages: list[MailboxMessage]
    lease_seconds: int | float


class MailboxAck(ApiModel):
    id: int
    status: Literal["delivered"]
    already: bool = Field(description="it was confirmed before")


# ---------------------------------------------------------------------------------------------- routes

HealthStateName = Literal["ok", "degraded", "down"]


class RouteReason(ApiModel):
    code: str
    state: HealthStateName
    text: str


class TypeHealth(ApiModel):
    state: HealthStateName
    reasons: list[RouteReason]
    pending_count: int
    oldest_pending_age_seconds: float | None
    receipts_overdue: int


class RouteHealth(ApiModel):
    """One route's health with the reasons and the drill-down per message type. A route without traffic
    (known sender and receiver) has only the first fields."""

    sender: Ean
    sender_name: str | None
    receiver: Ean
    receiver_name: str | None
    state: HealthStateName
    reasons: list[RouteReason]
    pending_count: int
    types: dict[str, TypeHealth]
    since: str | None = None
    oldest_pending_age_seconds: float | None = None
    consecutive_failures: int | None = None
    failing_since: str | None = None
    last_success_at: str | None = None
    receipts_overdue: int | None = None
    circuit: str | None = None
    last_error: str | None = None
    dead_letters: int | None = Field(None, description="messages given up on this route lately")
    last_dead_letter: str | None = Field(None, description="the newest dead letter's reason")


class RouteMatrix(ApiModel):
    at: str | None = Field(description="when the matrix was measured (null: not yet)")
    receivers_down: list[Ean]
    routes: list[RouteHealth]
    counts: dict[HealthStateName, int]


# ---------------------------------------------------------------------------------------------- health


class Health(ApiModel):
    status: Literal["ok"]


class FhirValidation(ApiModel):
    """FHIR messages can be validated now (else they get 503); not part of readiness."""

    available: bool
    reason: str


class Ready(ApiModel):
    status: Literal["ready", "not_ready"]
    components: dict[str, str]
    leader: bool = Field(description="this instance runs the time-based jobs")
    smtp: Literal["ok", "unreachable", "unwritable", "not_configured"] = Field(
        description="the mail server accepts connections (or the .eml folder is writable)"
    )
    receivers: dict[Ean, CircuitName] = Field(
        description="per push receiver EAN: its circuit; closed means deliveries go through"
    )
    fhir_validation: FhirValidation


# ---------------------------------------------------------------------------------------------- documentation


def error_doc(description: str) -> Reply:
    """A documented error answer with the gateway's error body."""
    return reply(description, ApiError)


UNAUTHORIZED = error_doc("Missing or wrong bearer token (`WWW-Authenticate: Bearer`).")
