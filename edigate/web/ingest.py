"""POST /api/v1/messages: HTTP in, the ingest pipeline (edigate.ingest.pipeline), HTTP out.

202 is sent only after the group-commit COMMIT that made the message durable; when the store cannot
commit the answer is 503, never a false 202.
"""

from __future__ import annotations

from aiohttp import web

from edigate.ingest.answers import MessageAccepted, MessageDuplicate, MessageRejected
from edigate.ingest.model import Answer, IngestRequest
from edigate.ingest.oioxml import xml_text
from edigate.web.apispec import JsonSchema, Operation, Reply, register, reply
from edigate.web.keys import INGEST
from edigate.web.responses import UNAUTHORIZED, ApiError, error_doc
from edigate.web.storage_trouble import STORAGE_TROUBLE

__all__ = ["OPERATIONS", "add_routes", "post_message", "to_response", "xml_text"]


async def post_message(request: web.Request) -> web.Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    answer = await request.app[INGEST].run(
        IngestRequest(bearer or None, request.content_type, request.content_length, request.read)
    )
    storage_failed = answer.status == 503 and str((answer.json or {}).get("reason", "")).startswith("storage")
    if storage_failed and STORAGE_TROUBLE in request.app:  # the store could not commit
        request.app[STORAGE_TROUBLE].record("store_commit_failed")  # /readyz: not ready for a while
    return to_response(answer)


def to_response(answer: Answer) -> web.Response:
    if answer.json is not None:
        resp = web.json_response(answer.json, status=answer.status)
    else:
        resp = web.Response(body=answer.body or b"", status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        resp.headers[name] = value
    return resp


_MEDCOM_XML: JsonSchema = {
    "type": "string",
    "x-server-rules": "one MedCom envelope, valid against its XSD and addressed to a known partner: "
    "anything else is 422 MessageRejected with its MedCom refuse code",
}
_FHIR_RULES = (
    "one MedCom FHIR message (a Bundle of type message: CareCommunication, HospitalNotification or "
    "Acknowledgement), judged by the HL7 reference validator and addressed to a known partner: anything else "
    "is 422 with a MedCom Acknowledgement or an OperationOutcome"
)


def _fhir(what: str) -> dict[str, JsonSchema]:
    """A FHIR resource (`what`) in application/fhir+json or application/fhir+xml."""
    resource = {"description": f"a FHIR {what}"}
    return {
        "application/fhir+json": {"type": "object", **resource},
        "application/fhir+xml": {"type": "string", **resource},
    }


OPERATIONS = (
    Operation(
        "post",
        "/api/v1/messages",
        "ingestMessage",
        "Send one MedCom message (the XML envelope or a FHIR Bundle); 202 only after it is durable",
        "messages",
        "bearer",
        {
            202: reply("Accepted and committed; it will be delivered.", MessageAccepted),
            200: reply("A duplicate (same envelope/letters): not delivered again.", MessageDuplicate),
            401: UNAUTHORIZED,
            403: error_doc("The sender EAN is not one of the caller's, or an admin token was used."),
            413: error_doc("The body is over `server.max_body_bytes`."),
            415: error_doc(
                "Content-Type does not fit the body (OIOXML: application/xml or text/xml; FHIR: "
                "application/fhir+json or application/fhir+xml)."
            ),
            422: Reply(
                "Refused (syntaksfejl, unknown receiver, …). FHIR: a MedCom Acknowledgement (fatal-error) in the "
                "request's format, or an OperationOutcome.",
                {"application/json": MessageRejected, **_fhir("Bundle or OperationOutcome")},
            ),
            503: Reply(
                "Storage, schema or FHIR validation unavailable: NOT accepted, send again later. FHIR: a "
                "transient-error Acknowledgement.",
                {"application/json": ApiError, **_fhir("Bundle")},
            ),
        },
        post_message,
        body={
            "application/xml": _MEDCOM_XML,
            "text/xml": _MEDCOM_XML,
            "application/fhir+json": {"type": "object", "x-server-rules": _FHIR_RULES},
            "application/fhir+xml": {"type": "string", "x-server-rules": _FHIR_RULES},
        },
    ),
)


def add_routes(app: web.Application) -> None:
    register(app, OPERATIONS)
