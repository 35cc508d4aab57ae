"""The OpenAPI 3.1 description of `/api/v1`, served at `GET /api/v1/openapi.json`.

Written by hand from the handlers (edigate/web/*, notify/web.py), not generated, so it says what the
code does: statuses, error bodies, auth. Every operation names the aiohttp route it documents
(`ROUTE_OF`), and the served document keeps only the operations whose route this app registered, so a
service without `[notify]` does not advertise incidents. `undocumented_api_routes(app)` lists API routes
the catalogue is missing; the roles-walk test keeps it empty.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from aiohttp import web

from edigate.medcom import all_types
from edigate.web.keys import SETTINGS

OPENAPI_PATH = "/api/v1/openapi.json"
_DOC = web.AppKey("edigate.openapi_document", dict[str, bytes])  # filled on first request

JSON = "application/json"
_ID18 = {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}  # route pattern [0-9]{1,18}
_ID31 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}  # notify: INTEGER columns (32 bits)
_EAN = {"type": "string", "pattern": "^[0-9]{13}$", "x-server-rules": "a GS1 check digit that fits"}
_TIME = {"type": ["string", "null"], "format": "date-time"}
_STR_OR_NULL = {"type": ["string", "null"]}
_INT_OR_NULL = {"type": ["integer", "null"]}
#: request members: what the server checks, said in JSON Schema (text is trimmed before the checks)
_TEXT_2000 = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}
_TEXT_200 = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
_TIME_IN = {
    "type": "string",
    "format": "date-time",
    "pattern": "^20[0-9]{2}-",
    "description": "ISO 8601, years 2000-2099; without an offset: Danish time",
}
_WHEN = {"anyOf": [_TIME_IN, {"const": ""}, {"type": "null"}]}


def _codes(what: str, *, min_items: int = 0) -> dict[str, Any]:
    """A list of known codes: a JSON array, or one string with the codes separated by commas or spaces
    (as the server reads it). `openapi_document(app)` fills the array's enum with this app's values."""
    return {
        "anyOf": [
            {"type": "array", "minItems": min_items, "items": {"type": "string"}},
            {"type": "string", "x-server-rules": f"{what}, separated by commas or spaces"},
        ],
        "description": what,
    }


_MEDCOM_XML = {
    "type": "string",
    "x-server-rules": "one MedCom envelope, valid against its XSD and addressed to a known partner: "
    "anything else is 422 MessageRejected with its MedCom refuse code",
}
_FHIR_RULES = (
    "one MedCom FHIR message (a Bundle of type message: CareCommunication, HospitalNotification or "
    "Acknowledgement), judged by the HL7 reference validator and addressed to a known partner: anything else "
    "is 422 with a MedCom Acknowledgement or an OperationOutcome"
)
_FHIR_JSON = {"type": "object", "x-server-rules": _FHIR_RULES}
_FHIR_XML = {"type": "string", "x-server-rules": _FHIR_RULES}
_STATES = ["accepted", "delivered", "acknowledged", "refused", "ack_overdue", "failed", "rejected"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _resp(description: str, schema: str | dict[str, Any] | None = None, ctype: str = JSON) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {ctype: {"schema": _ref(schema) if isinstance(schema, str) else schema}}
    return out


def _err(description: str) -> dict[str, Any]:
    return _resp(description, "Error")


def _with_fhir(response: dict[str, Any], what: str) -> dict[str, Any]:
    """`response` that may also come as a FHIR resource (`what`) in application/fhir+json or +xml."""
    resource = {"description": f"a FHIR {what}"}
    content = {
        **response.get("content", {}),
        "application/fhir+json": {"schema": {"type": "object", **resource}},
        "application/fhir+xml": {"schema": {"type": "string", **resource}},
    }
    return {**response, "content": content}


def _nerr(description: str) -> dict[str, Any]:
    return _resp(description, "NotifyError")


UNAUTHORIZED = _err("Missing or wrong bearer token (`WWW-Authenticate: Bearer`).")
N_UNAUTHORIZED = _nerr("Missing or unknown token (Danish text in `fejl`).")
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def _path_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _json_body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": _ref(schema)}}}


# ---------------------------------------------------------------------------------------------- schemas

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["status", "reason"],
        "properties": {
            "status": {"type": "string", "enum": ["error", "rejected"]},
            "reason": {"type": "string"},
        },
    },
    "NotifyError": {
        "type": "object",
        "required": ["fejl"],
        "properties": {
            "fejl": {"type": "string", "description": "what is wrong, in Danish"},
            "felter": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "FieldError": {
        "type": "object",
        "properties": {"message": _STR_OR_NULL, "line": _INT_OR_NULL, "path": _STR_OR_NULL},
    },
    "MessageAccepted": {
        "type": "object",
        "required": ["id", "status"],
        "description": "OIOXML answers carry envelope_id and letters; FHIR answers format, bundle_id and "
        "message_header_id.",
        "properties": {
            "id": {"type": "integer"},
            "status": {"const": "accepted"},
            "type": {"type": "string", "description": "MedCom type code (XDIS91) or FHIR standard (CareCommunication)"},
            "envelope_id": {"type": "string"},
            "letters": {"type": "array", "items": {"type": "string"}},
            "format": {"const": "fhir"},
            "bundle_id": {"type": "string"},
            "message_header_id": {"type": "string"},
        },
    },
    "MessageDuplicate": {
        "type": "object",
        "required": ["duplicate", "id", "status"],
        "properties": {
            "duplicate": {"const": True},
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["accepted", "rejected"]},
            "state": {"type": "string", "enum": _STATES},
            "refuse_code": _STR_OR_NULL,
            "receipt_resent": {"type": "boolean"},
            "envelope_id": {"type": "string"},
            "letters": {"type": "array", "items": {"type": "string"}},
            "format": {"const": "fhir"},
            "acknowledgement_resent": {"type": "boolean"},
            "bundle_id": _STR_OR_NULL,
            "message_header_id": _STR_OR_NULL,
        },
    },
    "MessageRejected": {
        "type": "object",
        "required": ["status", "refuse_code"],
        "description": "Refused with a MedCom refuse code; `receipt` is the negative receipt (XCTL02) "
        "queued to the sender, when one could be built.",
        "properties": {
            "id": _INT_OR_NULL,
            "status": {"const": "rejected"},
            "refuse_code": {"type": "string"},
            "errors": {"type": "array", "items": _ref("FieldError")},
            "receipt": _STR_OR_NULL,
            "receipt_id": _INT_OR_NULL,
            "reason": _STR_OR_NULL,
            "envelope_id": {"type": "string"},
            "letters": {"type": "array", "items": {"type": "string"}},
        },
    },
    "MessageMeta": {
        "type": "object",
        "description": "Metadata only; the body (which holds the CPR) is never listed.",
        "required": ["id", "envelope_id", "sender_ean", "receiver_ean", "type", "state"],
        "properties": {
            "id": {"type": "integer"},
            "envelope_id": {"type": "string"},
            "sender_ean": {"type": "string"},
            "receiver_ean": {"type": "string"},
            "type": {"type": "string"},
            "version_code": _STR_OR_NULL,
            "state": {"type": "string", "enum": _STATES},
            "delivery_state": {"type": "string", "enum": ["pending", "delivered", "failed", "none"]},
            "refuse_code": _STR_OR_NULL,
            "refuse_text": _STR_OR_NULL,
            "body_size": {"type": "integer"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "delivered_at": _TIME,
            "receipt_at": _TIME,
            "attempts": {"type": "integer"},
            "last_error": _STR_OR_NULL,
        },
    },
    "MessageDetail": {
        "allOf": [
            _ref("MessageMeta"),
            {
                "type": "object",
                "properties": {
                    "letters": {"type": "array", "items": {"type": "object"}},
                    "history": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"at": _TIME, "event": {"type": "string"}, "detail": _STR_OR_NULL},
                        },
                    },
                    "body": {"type": "string", "description": "admin only: the XML as text"},
                    "body_base64": {"type": "string", "description": "admin only: the stored bytes"},
                },
            },
        ]
    },
    "MessageList": {
        "type": "object",
        "required": ["messages", "count"],
        "properties": {
            "messages": {"type": "array", "items": _ref("MessageMeta")},
            "count": {"type": "integer"},
            "next_cursor": {
                "type": "string",
                "description": "present when the page is full: pass it as `cursor` for the next page",
            },
        },
    },
    "Queued": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {"id": {"type": "integer"}, "status": {"const": "queued"}},
    },
    "MailboxBatch": {
        "type": "object",
        "required": ["messages", "lease_seconds"],
        "properties": {
            "messages": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "envelope_id", "sender", "receiver", "type", "xml_base64"],
                    "properties": {
                        "id": {"type": "integer"},
                        "envelope_id": {"type": "string"},
                        "sender": {"type": "string"},
                        "receiver": {"type": "string"},
                        "type": {"type": "string"},
                        "xml": {"type": "string"},
                        "xml_base64": {"type": "string"},
                        "content_type": {"type": "string"},
                    },
                },
            },
            "lease_seconds": {"type": "number"},
        },
    },
    "MailboxAck": {
        "type": "object",
        "required": ["id", "status", "already"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"const": "delivered"},
            "already": {"type": "boolean"},
        },
    },
    "IncidentInput": {
        "type": "object",
        "description": "EDI-nedbrud/nedlukning. What JSON Schema can say is said here; the rules it cannot "
        "(marked `x-server-rules`) the server checks and answers 422 naming the field in `felter`. "
        "No free-text field may hold a CPR number.",
        "required": ["kind", "cause", "affected_messages", "expected_end", "contact"],
        "properties": {
            "kind": {"type": "string", "enum": ["acute", "planned"]},
            "reporting_organisation": {
                **_EAN,
                "description": "EAN of a partner; a reporter's own by default, and only its own",
                "x-server-rules": "a reporter may report only for its own organisation; an admin must name one",
            },
            "role": {
                "type": "string",
                "enum": ["eoj", "regional-it"],
                "x-server-rules": "a reporter's role is the one it was created with",
            },
            "cause": {**_TEXT_2000, "x-server-rules": "no CPR number"},
            "affected_messages": _codes("MedCom type codes of the catalogue", min_items=1),
            "affected_organisations": _codes("partner EANs"),
            "start": {
                **_WHEN,
                "x-server-rules": "required for a planned shutdown; an empty string or null means now",
            },
            "expected_end": {**_TIME_IN, "x-server-rules": "after `start` (or after now when there is none)"},
            "contact": {
                "type": "object",
                "required": ["name", "phone", "email"],
                "properties": {
                    "name": {**_TEXT_200, "x-server-rules": "no CPR number"},
                    "phone": {
                        "type": "string",
                        "pattern": r"^\s*\+?[0-9 ()-]{8,20}\s*$",
                        "x-server-rules": "no CPR number",
                    },
                    "email": {
                        "type": "string",
                        "format": "email",
                        "maxLength": 254,
                        "x-server-rules": "a deliverable address (checked with email-validator); no CPR number",
                    },
                },
            },
        },
    },
    "IncidentUpdateInput": {
        "type": "object",
        "description": "A status text, a new expected end, or both (at least one of them).",
        "anyOf": [{"required": ["text"]}, {"required": ["expected_end"]}],
        "properties": {
            "text": {**_TEXT_2000, "x-server-rules": "no CPR number; may be blank when `expected_end` is given"},
            "expected_end": {**_WHEN, "x-server-rules": "after the incident's start; empty or null: unchanged"},
        },
    },
    "IncidentResolveInput": {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": 2000, "x-server-rules": "no CPR number"}},
    },
    "Incident": {
        "type": "object",
        "required": ["id", "kind", "state", "reporting_organisation"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["acute", "planned"]},
            "state": {"type": "string"},
            "reporting_organisation": {"type": "string"},
            "reporting_organisation_name": _STR_OR_NULL,
            "role": {"type": "string"},
            "cause": {"type": "string"},
            "affected_messages": {"type": "array", "items": {"type": "string"}},
            "affected_organisations": {"type": "array", "items": {"type": "string"}},
            "start": _TIME,
            "expected_end": _TIME,
            "reported_at": _TIME,
            "resolved_at": _TIME,
            "last_update_at": _TIME,
            "contact": {"type": "object"},
            "plan": {"type": "object"},
            "url": {"type": "string"},
        },
    },
    "IncidentDetail": {
        "allOf": [
            _ref("Incident"),
            {
                "type": "object",
                "properties": {
                    k: {"type": "array", "items": {"type": "object"}}
                    for k in ("updates", "notices", "recipients", "errors", "audit")
                },
            },
        ]
    },
    "IncidentList": {
        "type": "object",
        "required": ["incidents"],
        "properties": {"incidents": {"type": "array", "items": _ref("Incident")}},
    },
    "SubscriptionInput": {
        "type": "object",
        "required": ["email"],
        "description": "Without organisations, clusters and message types: every outage.",
        "properties": {
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 254,
                "x-server-rules": "a deliverable address (checked with email-validator); no CPR number",
            },
            "organisations": _codes("partner EANs"),
            "clusters": _codes("health clusters"),
            "message_types": _codes("MedCom type codes of the catalogue"),
        },
    },
    "SubscriptionCreated": {
        "type": "object",
        "required": ["id", "email", "state"],
        "properties": {
            "id": {"type": "integer"},
            "email": {"type": "string"},
            "state": {"type": "string"},
            "besked": {"type": "string"},
        },
    },
    "SubscriptionRequested": {
        "type": "object",
        "required": ["email", "state"],
        "properties": {
            "email": {"type": "string"},
            "state": {"type": "string", "enum": ["pending"]},
            "besked": {"type": "string"},
        },
    },
    "SubscriptionList": {
        "type": "object",
        "required": ["subscriptions"],
        "properties": {"subscriptions": {"type": "array", "items": {"type": "object"}}},
    },
    "SubscriptionState": {
        "type": "object",
        "required": ["id", "state"],
        "properties": {"id": {"type": "integer"}, "state": {"type": "string"}},
    },
    "RouteHealth": {
        "type": "object",
        "required": ["sender", "receiver", "state"],
        "properties": {
            "sender": {"type": "string"},
            "receiver": {"type": "string"},
            "state": {"type": "string", "enum": ["ok", "degraded", "down"]},
            "reasons": {"type": "array", "items": {"type": "object"}},
            "dead_letters": {"type": "integer", "description": "messages given up on this route lately"},
            "last_dead_letter": _STR_OR_NULL,
        },
    },
    "RouteMatrix": {
        "type": "object",
        "required": ["routes"],
        "properties": {
            "at": _TIME,
            "receivers_down": {"type": "array", "items": {"type": "string"}},
            "routes": {"type": "array", "items": _ref("RouteHealth")},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
    "Ready": {
        "type": "object",
        "required": ["status", "components"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not_ready"]},
            "components": {"type": "object", "additionalProperties": {"type": "string"}},
            "leader": {"type": "boolean", "description": "this instance runs the time-based jobs"},
            "smtp": {
                "type": "string",
                "enum": ["ok", "unreachable", "unwritable", "not_configured"],
                "description": "the mail server accepts connections (or the .eml folder is writable)",
            },
            "receivers": {
                "type": "object",
                "additionalProperties": {"type": "string", "enum": ["closed", "open", "half_open"]},
                "description": "per push receiver EAN: its circuit; closed means deliveries go through",
            },
            "fhir_validation": {
                "type": "object",
                "required": ["available", "reason"],
                "properties": {"available": {"type": "boolean"}, "reason": {"type": "string"}},
                "description": "FHIR messages can be validated now (else they get 503); not part of readiness",
            },
        },
    },
}

# ---------------------------------------------------------------------------------------------- operations

MID = _path_param("id", _ID18, "message id")
IID = _path_param("id", _ID31, "incident id")

# (method, OpenAPI path) -> (aiohttp route canonical path, operation)
OPERATIONS: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("post", "/api/v1/messages"): (
        "/api/v1/messages",
        {
            "operationId": "ingestMessage",
            "summary": "Send one MedCom message (the XML envelope); 202 only after it is durable",
            "tags": ["messages"],
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {
                    "application/xml": {"schema": _MEDCOM_XML},
                    "text/xml": {"schema": _MEDCOM_XML},
                    "application/fhir+json": {"schema": _FHIR_JSON},
                    "application/fhir+xml": {"schema": _FHIR_XML},
                },
            },
            "responses": {
                "202": _resp("Accepted and committed; it will be delivered.", "MessageAccepted"),
                "200": _resp("A duplicate (same envelope/letters): not delivered again.", "MessageDuplicate"),
                "401": UNAUTHORIZED,
                "403": _err("The sender EAN is not one of the caller's, or an admin token was used."),
                "413": _err("The body is over `server.max_body_bytes`."),
                "415": _err(
                    "Content-Type does not fit the body (OIOXML: application/xml or text/xml; FHIR: "
                    "application/fhir+json or application/fhir+xml)."
                ),
                "422": _with_fhir(
                    _resp(
                        "Refused (syntaksfejl, unknown receiver, …). FHIR: a MedCom Acknowledgement "
                        "(fatal-error) in the request's format, or an OperationOutcome.",
                        "MessageRejected",
                    ),
                    "Bundle or OperationOutcome",
                ),
                "503": _with_fhir(
                    _err(
                        "Storage, schema or FHIR validation unavailable: NOT accepted, send again later. FHIR: "
                        "a transient-error Acknowledgement."
                    ),
                    "Bundle",
                ),
            },
        },
    ),
    ("get", "/api/v1/messages"): (
        "/api/v1/messages",
        {
            "operationId": "listMessages",
            "summary": "Search messages (newest first): own for partners, all for an admin; no bodies",
            "tags": ["messages"],
            "security": BEARER,
            "parameters": [
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"),
                _query("since", {"type": "string", "format": "date-time"}, "created at or after (with offset)"),
                _query("state", {"type": "string", "enum": _STATES}, "life state"),
                _query("envelope_id", {"type": "string"}, "envelope id"),
                _query("bundle_id", {"type": "string"}, "FHIR Bundle.id (the envelope id of a FHIR message)"),
                _query("message_header_id", {"type": "string"}, "FHIR MessageHeader.id (or an OIOXML letter id)"),
                _query("sender", {"anyOf": [_EAN, {"const": ""}]}, "sender EAN (empty: no filter)"),
                _query("receiver", {"anyOf": [_EAN, {"const": ""}]}, "receiver EAN (empty: no filter)"),
                _query(
                    "cursor",
                    {
                        "type": "string",
                        "maxLength": 100,
                        "x-server-rules": "exactly a next_cursor this server gave (an opaque keyset position)",
                    },
                    "next_cursor of the previous page (keyset pagination, newest first)",
                ),
            ],
            "responses": {
                "200": _resp("Matching messages.", "MessageList"),
                "400": _err("A bad query parameter (the reason names it)."),
                "401": UNAUTHORIZED,
            },
        },
    ),
    ("get", "/api/v1/messages/{id}"): (
        "/api/v1/messages/{id}",
        {
            "operationId": "getMessage",
            "summary": "One message with letters and history; the body only for an admin",
            "tags": ["messages"],
            "security": BEARER,
            "parameters": [MID],
            "responses": {
                "200": _resp("The message.", "MessageDetail"),
                "401": UNAUTHORIZED,
                "404": _err("No such message visible to the caller."),
            },
        },
    ),
    ("post", "/api/v1/messages/{id}/retry"): (
        "/api/v1/messages/{id}/retry",
        {
            "operationId": "retryMessage",
            "summary": "Re-queue a message for delivery (its sender or an admin)",
            "tags": ["messages"],
            "security": BEARER,
            "parameters": [MID],
            "responses": {
                "200": _resp("Queued.", "Queued"),
                "401": UNAUTHORIZED,
                "403": _err("Only the sender or an admin may re-queue."),
                "404": _err("No such message visible to the caller."),
                "409": _err("A rejected message is never delivered."),
            },
        },
    ),
    ("get", "/api/v1/mailbox"): (
        "/api/v1/mailbox",
        {
            "operationId": "pollMailbox",
            "summary": "Lease the oldest unconfirmed messages of the caller's mailbox (FIFO)",
            "tags": ["mailbox"],
            "security": BEARER,
            "parameters": [
                _query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 10}, "at most"),
                _query("ean", _EAN, "only this one of the caller's EANs"),
            ],
            "responses": {
                "200": _resp("Leased messages (may be empty).", "MailboxBatch"),
                "400": _err("limit out of range."),
                "401": UNAUTHORIZED,
                "403": _err("An admin token, or an EAN that is not the caller's."),
            },
        },
    ),
    ("post", "/api/v1/mailbox/{id}/ack"): (
        "/api/v1/mailbox/{id}/ack",
        {
            "operationId": "ackMailboxMessage",
            "summary": "Confirm one fetched mailbox message (idempotent)",
            "tags": ["mailbox"],
            "security": BEARER,
            "parameters": [MID],
            "responses": {
                "200": _resp("Confirmed (`already` when it was before).", "MailboxAck"),
                "401": UNAUTHORIZED,
                "404": _err("No such message in the caller's mailbox."),
            },
        },
    ),
    ("post", "/api/v1/incidents"): (
        "/api/v1/incidents",
        {
            "operationId": "createIncident",
            "summary": "Report an EDI outage or planned shutdown (reporter or admin)",
            "tags": ["incidents"],
            "security": BEARER,
            "requestBody": _json_body("IncidentInput"),
            "responses": {
                "201": _resp("Stored; `Location` names it.", "Incident"),
                "400": _nerr("Not a JSON object."),
                "401": N_UNAUTHORIZED,
                "403": _nerr("Not allowed."),
                "422": _nerr("Invalid fields (`felter`), nothing stored."),
            },
        },
    ),
    ("get", "/api/v1/incidents"): (
        "/api/v1/incidents",
        {
            "operationId": "listIncidents",
            "summary": "All incidents, newest first (reporter or admin)",
            "tags": ["incidents"],
            "security": BEARER,
            "responses": {"200": _resp("Incidents.", "IncidentList"), "401": N_UNAUTHORIZED},
        },
    ),
    ("get", "/api/v1/incidents/{id}"): (
        "/api/v1/incidents/{id}",
        {
            "operationId": "getIncident",
            "summary": "One incident with updates, notices, recipients and audit trail",
            "tags": ["incidents"],
            "security": BEARER,
            "parameters": [IID],
            "responses": {
                "200": _resp("The incident.", "IncidentDetail"),
                "401": N_UNAUTHORIZED,
                "404": _nerr("No such incident."),
            },
        },
    ),
}

for _action, _schema, _summary in (
    ("updates", "IncidentUpdateInput", "Add a status update and/or a new expected end"),
    ("resolve", "IncidentResolveInput", "Resolve the incident (sends the resolved notice)"),
    ("confirm", None, "Confirm a draft incident (admin: EDI-support)"),
):
    _op: dict[str, Any] = {
        "operationId": f"{_action}Incident",
        "summary": _summary,
        "tags": ["incidents"],
        "security": BEARER,
        "parameters": [IID],
        "responses": {
            "200": _resp("The incident after the change.", "Incident"),
            "400": _nerr("Not a JSON object."),
            "401": N_UNAUTHORIZED,
            "403": _nerr("Only the reporting organisation or an admin."),
            "404": _nerr("No such incident."),
            "409": _nerr("Not possible in the incident's state."),
            "422": _nerr("Invalid fields (`felter`)."),
        },
    }
    if _schema:
        _op["requestBody"] = _json_body(_schema)
    else:
        del _op["responses"]["400"], _op["responses"]["422"]
    OPERATIONS[("post", f"/api/v1/incidents/{{id}}/{_action}")] = ("/api/v1/incidents/{id}/{action}", _op)

OPERATIONS.update(
    {
        ("post", "/api/v1/subscriptions"): (
            "/api/v1/subscriptions",
            {
                "operationId": "subscribe",
                "summary": "Subscribe a mail address to outage notices (confirmed by mail unless admin)",
                "tags": ["subscriptions"],
                "security": [{}, {"bearer": []}],
                "requestBody": _json_body("SubscriptionInput"),
                "responses": {
                    "201": _resp("Active at once (an admin created it).", "SubscriptionCreated"),
                    "202": _resp(
                        "A confirmation mail is sent, unless one is already pending for the address "
                        "(the same answer either way).",
                        "SubscriptionRequested",
                    ),
                    "400": _nerr("Not a JSON object."),
                    "401": N_UNAUTHORIZED,
                    "422": _nerr("Invalid fields (`felter`)."),
                    "429": _nerr("Too many requests from this client address; see `Retry-After`."),
                },
            },
        ),
        ("get", "/api/v1/subscriptions"): (
            "/api/v1/subscriptions",
            {
                "operationId": "listSubscriptions",
                "summary": "All subscriptions, with removed ones (admin)",
                "tags": ["subscriptions"],
                "security": BEARER,
                "responses": {
                    "200": _resp("Subscriptions.", "SubscriptionList"),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Admins only."),
                },
            },
        ),
        ("delete", "/api/v1/subscriptions/{id}"): (
            "/api/v1/subscriptions/{id}",
            {
                "operationId": "removeSubscription",
                "summary": "Remove a subscription (admin)",
                "tags": ["subscriptions"],
                "security": BEARER,
                "parameters": [_path_param("id", _ID31, "subscription id")],
                "responses": {
                    "200": _resp("Removed.", "SubscriptionState"),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Admins only."),
                    "404": _nerr("No such subscription."),
                },
            },
        ),
        ("get", "/api/v1/subscriptions/confirm/{token}"): (
            "/api/v1/subscriptions/confirm/{token}",
            {
                "operationId": "confirmSubscription",
                "summary": "The link in the confirmation mail (answers with an HTML page)",
                "tags": ["subscriptions"],
                "security": [{}],
                "parameters": [_path_param("token", {"type": "string", "minLength": 1}, "from the mail")],
                "responses": {
                    "200": _resp("Confirmed.", {"type": "string"}, "text/html"),
                    "404": _resp("Unknown or removed.", {"type": "string"}, "text/html"),
                },
            },
        ),
        ("get", "/api/v1/routes"): (
            "/api/v1/routes",
            {
                "operationId": "listRoutes",
                "summary": "The route health matrix: admin all routes, partners their own",
                "tags": ["routes"],
                "security": BEARER,
                "parameters": [
                    _query("sender", _EAN, "sender EAN"),
                    _query("receiver", _EAN, "receiver EAN"),
                    _query("state", {"type": "string", "enum": ["ok", "degraded", "down"]}, "state"),
                ],
                "responses": {
                    "200": _resp("The matrix.", "RouteMatrix"),
                    "400": _err(
                        "A bad query parameter: a state that is not one of the states, or a sender or receiver "
                        "that is not a valid EAN/GLN (never echoed)."
                    ),
                    "401": UNAUTHORIZED,
                },
            },
        ),
        ("get", "/api/v1/routes/{sender}/{receiver}"): (
            "/api/v1/routes/{sender}/{receiver}",
            {
                "operationId": "getRoute",
                "summary": "One route's health with reasons and per-type drill-down",
                "tags": ["routes"],
                "security": BEARER,
                "parameters": [
                    _path_param("sender", _EAN, "sender EAN"),
                    _path_param("receiver", _EAN, "receiver EAN"),
                ],
                "responses": {
                    "200": _resp("The route.", "RouteHealth"),
                    "401": UNAUTHORIZED,
                    "403": _err("Not one of the caller's routes."),
                    "404": _err("Unknown route."),
                },
            },
        ),
        ("get", "/healthz"): (
            "/healthz",
            {
                "operationId": "healthz",
                "summary": "The process answers (liveness)",
                "tags": ["health"],
                "security": [{}],
                "responses": {"200": _resp("Alive.", "Health")},
            },
        ),
        ("get", "/readyz"): (
            "/readyz",
            {
                "operationId": "readyz",
                "summary": "Storage and writer answer (readiness)",
                "tags": ["health"],
                "security": [{}],
                "responses": {"200": _resp("Ready.", "Ready"), "503": _resp("Not ready.", "Ready")},
            },
        ),
        ("get", OPENAPI_PATH): (
            OPENAPI_PATH,
            {
                "operationId": "openapi",
                "summary": "This document",
                "tags": ["health"],
                "security": [{}],
                "responses": {"200": _resp("OpenAPI 3.1.", {"type": "object"})},
            },
        ),
    }
)


def registered_routes(app: web.Application) -> set[tuple[str, str]]:
    """(lower-case method, canonical path) of every route the app registered."""
    out: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        out.add((route.method.lower(), resource.canonical))
    return out


def _with_app_values(schemas: dict[str, Any], app: web.Application) -> dict[str, Any]:
    """The schemas with this app's own codes as enums: catalogue, partner EANs, health clusters (the outage
    procedure's organisations are the partners, its catalogue the MedCom one); unchanged without [notify]."""
    if "/api/v1/incidents" not in {r.resource.canonical for r in app.router.routes() if r.resource is not None}:
        return schemas
    partners = app[SETTINGS].partners
    eans = sorted(p.ean for p in partners)
    clusters = sorted({c for p in partners for c in p.clusters})
    codes = sorted(dict(all_types()))
    out = copy.deepcopy(schemas)
    incident, subscription = out["IncidentInput"]["properties"], out["SubscriptionInput"]["properties"]
    for prop, values in (
        (incident["affected_messages"], codes),
        (incident["affected_organisations"], eans),
        (subscription["organisations"], eans),
        (subscription["clusters"], clusters),
        (subscription["message_types"], codes),
    ):
        prop["anyOf"][0]["items"]["enum"] = values
    return out


def openapi_document(app: web.Application | None = None) -> dict[str, Any]:
    """The document for this app: only operations whose aiohttp route is registered (None: all)."""
    have = registered_routes(app) if app is not None else None
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), (route, op) in OPERATIONS.items():
        if have is None or (method, route) in have or ("*", route) in have:
            paths.setdefault(path, {})[method] = op
    schemas = _with_app_values(SCHEMAS, app) if app is not None else SCHEMAS
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edigate API",
            "version": "1",
            "description": "MedCom message gateway between Danish hospitals and municipalities, with the "
            "EDI outage procedure. Errors are JSON: gateway `{status, reason}`, outage procedure `{fejl}`.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }


# The desk's sundhed.dk (VisInfoSyd) tasks and the directory the desk edits (notify/visinfosyd.py,
# notify/directory_web.py): described loosely (objects), so a client knows they exist and who may call them.
_OBJECT: dict[str, Any] = {"type": "object"}
OPERATIONS.update(
    {
        ("post", "/api/v1/incidents/{id}/visinfosyd"): (
            "/api/v1/incidents/{id}/visinfosyd",
            {
                "operationId": "incidentPortalTask",
                "summary": "Request, mark done or withdraw the incident's sundhed.dk post (the desk)",
                "tags": ["incidents"],
                "security": BEARER,
                "parameters": [_path_param("id", _ID31, "incident id")],
                "requestBody": {
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["action"],
                                "properties": {"action": {"enum": ["request", "done", "withdraw"]}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _resp("The incident's task (`task` null once withdrawn).", _OBJECT),
                    "400": _nerr("Not a JSON object."),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Only the desk (EDI support, on-call, Regional IT)."),
                    "404": _nerr("No such incident."),
                    "409": _nerr("Not possible in the task's or incident's state."),
                    "422": _nerr("Unknown `action`."),
                },
            },
        ),
        ("get", "/api/v1/visinfosyd"): (
            "/api/v1/visinfosyd",
            {
                "operationId": "listPortalTasks",
                "summary": "The desk's sundhed.dk tasks (`?open=1`: only those still to post)",
                "tags": ["incidents"],
                "security": BEARER,
                "parameters": [_query("open", {"enum": ["0", "1"]}, "1: only the tasks still to post")],
                "responses": {
                    "200": _resp("Tasks.", _OBJECT),
                    "400": _err("A query parameter other than `open` (the reason names how many)."),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Only the desk (EDI support, on-call, Regional IT)."),
                },
            },
        ),
        ("get", "/api/v1/directory"): (
            "/api/v1/directory",
            {
                "operationId": "getDirectory",
                "summary": "Organisations, contacts and the change history of the directory (admin)",
                "tags": ["directory"],
                "security": BEARER,
                "responses": {
                    "200": _resp("The directory.", _OBJECT),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Admins only."),
                },
            },
        ),
        ("put", "/api/v1/directory/organisations/{ean}"): (
            "/api/v1/directory/organisations/{ean}",
            {
                "operationId": "editDirectoryOrganisation",
                "summary": "Change one organisation's mailbox, clusters and contacts (admin)",
                "tags": ["directory"],
                "security": BEARER,
                "parameters": [_path_param("ean", _EAN, "the organisation's EAN")],
                "requestBody": {"required": True, "content": {JSON: {"schema": _OBJECT}}},
                "responses": {
                    "200": _resp("The organisation as stored.", _OBJECT),
                    "400": _nerr("Not a JSON object."),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Admins only."),
                    "404": _nerr("No such organisation."),
                    "422": _nerr("Invalid fields (`felter`), nothing stored."),
                },
            },
        ),
        ("put", "/api/v1/directory/contacts"): (
            "/api/v1/directory/contacts",
            {
                "operationId": "editDirectoryContacts",
                "summary": "Change the procedure's contacts (admin)",
                "tags": ["directory"],
                "security": BEARER,
                "requestBody": {"required": True, "content": {JSON: {"schema": _OBJECT}}},
                "responses": {
                    "200": _resp("The contacts as stored.", _OBJECT),
                    "400": _nerr("Not a JSON object."),
                    "401": N_UNAUTHORIZED,
                    "403": _nerr("Admins only."),
                    "422": _nerr("Invalid fields (`felter`), nothing stored."),
                },
            },
        ),
    }
)


def undocumented_api_routes(app: web.Application) -> set[tuple[str, str]]:
    """Registered `/api/` routes the catalogue does not describe (should be empty)."""
    documented = {(method, route) for (method, _), (route, _) in OPERATIONS.items()}
    return {
        (method, path)
        for method, path in registered_routes(app)
        if path.startswith("/api/") and (method, path) not in documented
    }


async def serve_openapi(request: web.Request) -> web.Response:
    cache = request.app[_DOC]
    if "doc" not in cache:  # built on first use, when every component has registered its routes
        cache["doc"] = json.dumps(openapi_document(request.app), indent=1).encode()
    body = cache["doc"]
    return web.Response(body=body, content_type=JSON, headers={"Cache-Control": "no-cache"})


def setup_openapi(app: web.Application) -> None:
    """Serve the document at `/api/v1/openapi.json` (no token needed: it holds no data)."""
    app[_DOC] = {}
    app.router.add_get(OPENAPI_PATH, serve_openapi)
