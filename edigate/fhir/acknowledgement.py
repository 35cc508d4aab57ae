"""The MedCom Acknowledgement edigate builds when it refuses a FHIR message (fatal-error) or cannot
validate it now (transient-error).

It answers as the message's receiver would: MessageHeader.sender is the Organization the original named as
its receiver (copied from the original), destination.receiver the original's sender, and
response.identifier the original's MessageHeader.id, so the sender's system correlates it exactly like an
Acknowledgement from the receiver. (Why the receiver's GLN and not the gateway's: see docs/fhir.md.)
Resources are written in FHIR element order (edigate.fhir.serialize). No text from the message is quoted
except through `FhirMessage.scrub`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edigate.fhir.reading import Entry, FhirMessage, many, text, xml_tree
from edigate.fhir.serialize import encode
from edigate.fhir.standards import ACKNOWLEDGEMENT, EVENT_CODE_SYSTEM, SOR_SYSTEM

ACTIVITY_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-activityCodes"
DESTINATION_USE_EXTENSION = (
    "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-destinationUseExtension"
)
DESTINATION_USE_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-destinationUse"
PROVENANCE_PROFILE = "http://medcomfhir.dk/ig/messaging/StructureDefinition/medcom-messaging-provenance"
OUTCOME_PROFILE = "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-acknowledgement-operationoutcome"
ERROR_CODE_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-acknowledgement-error-codes"
SOR_ENDPOINT = "https://sor2.sum.dsdn.dk/#id="
_RESTFUL = re.compile(r"^(https?://.+/)MessageHeader/[A-Za-z0-9\-.]{1,64}$")

# MedCom's issue-details codes edigate uses (ValueSet medcom-acknowledgement-issue-details)
RECEIVER_UNKNOWN = "MSG_Receiver_Identifier_UNKNOWN"
RECEIVER_CANNOT_RECEIVE = "MSG_RECEIVER_UNABLE_TO_RECEIVE_MSG_TYPE"
MAILBOX_OUT_OF_OPERATION = "MSG_Mailbox_Out_Of_Operation"


@dataclass(frozen=True)
class AckIssue:
    severity: str  # error | fatal | warning
    code: str  # FHIR IssueType
    diagnostics: str
    expression: tuple[str, ...] = ()
    detail_code: str | None = None  # a code of MedCom's medcom-acknowledgement-error-codes


@dataclass(frozen=True)
class BuiltAcknowledgement:
    body: bytes
    bundle_id: str
    header_id: str
    media_type: str


def can_acknowledge(message: FhirMessage) -> bool:
    """An Acknowledgement needs the original's id and both Organizations (to swap them)."""
    return bool(
        message.header_id and message.sender is not None and message.receiver is not None and message.sender_gln
    )


def build_acknowledgement(
    message: FhirMessage, code: str, issues: tuple[AckIssue, ...], now: datetime
) -> BuiltAcknowledgement:
    """An Acknowledgement of `message` with response.code `code` (ok | transient-error | fatal-error), in the
    message's own encoding. Raises ValueError when the message cannot be acknowledged (can_acknowledge)."""
    if not can_acknowledge(message):
        raise ValueError("the message lacks the MessageHeader id or an Organization to answer")
    assert message.sender is not None and message.receiver is not None and message.header_id is not None
    base = _base(message)
    bundle_id, header_id, provenance_id, outcome_id = (str(uuid.uuid4()) for _ in range(4))
    me, them = message.receiver, message.sender  # the Acknowledgement goes from the receiver to the sender
    me_ref, them_ref = _ref(base, me), _ref(base, them)
    stamp = now.astimezone(UTC)
    response: dict[str, Any] = {"identifier": message.header_id, "code": code}
    if code != "ok":
        response["details"] = {"reference": _ref_to(base, "OperationOutcome", outcome_id)}
    header = {
        "resourceType": "MessageHeader",
        "id": header_id,
        "meta": {"profile": [ACKNOWLEDGEMENT.message_header_profile]},
        "eventCoding": {"system": EVENT_CODE_SYSTEM, "code": ACKNOWLEDGEMENT.event_code},
        "destination": [
            {
                "extension": [
                    {
                        "url": DESTINATION_USE_EXTENSION,
                        "valueCoding": {"system": DESTINATION_USE_SYSTEM, "code": "primary"},
                    }
                ],
                "endpoint": message.source_endpoint or _sor_endpoint(them),
                "receiver": {"reference": them_ref},
            }
        ],
        "sender": {"reference": me_ref},
        "source": {"endpoint": message.destination_endpoint or _sor_endpoint(me)},
        "response": response,
    }
    provenance = {
        "resourceType": "Provenance",
        "id": provenance_id,
        "meta": {"profile": [PROVENANCE_PROFILE]},
        "target": [{"reference": _ref_to(base, "MessageHeader", header_id)}],
        "occurredDateTime": stamp.isoformat(timespec="seconds"),
        "recorded": stamp.isoformat(timespec="seconds"),
        "activity": {"coding": [{"system": ACTIVITY_SYSTEM, "code": "acknowledgement"}]},
        "agent": [{"who": {"reference": me_ref}}],
        "entity": [{"role": "revision", "what": {"reference": f"MessageHeader/{message.header_id}"}}],
    }
    entries: list[dict[str, Any]] = [
        {"fullUrl": _url(base, "MessageHeader", header_id), "resource": header},
        {"fullUrl": _url(base, "Provenance", provenance_id), "resource": provenance},
        {"fullUrl": _url(base, "Organization", me.id or ""), "resource": _organization(me)},
        {"fullUrl": _url(base, "Organization", them.id or ""), "resource": _organization(them)},
    ]
    if code != "ok":
        entries.append(
            {"fullUrl": _url(base, "OperationOutcome", outcome_id), "resource": _outcome(outcome_id, issues, message)}
        )
    bundle = {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [ACKNOWLEDGEMENT.bundle_profile]},
        "type": "message",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "entry": entries,
    }
    return BuiltAcknowledgement(encode(bundle, message.encoding), bundle_id, header_id, message.media_type)


def _outcome(outcome_id: str, issues: tuple[AckIssue, ...], message: FhirMessage) -> dict[str, Any]:
    out = []
    for issue in issues or (AckIssue("error", "processing", "meddelelsen blev afvist"),):
        item: dict[str, Any] = {"severity": issue.severity, "code": issue.code}
        if issue.detail_code:
            item["details"] = {"coding": [{"system": ERROR_CODE_SYSTEM, "code": issue.detail_code}]}
        item["diagnostics"] = message.scrub(issue.diagnostics)[:1000] or issue.code
        if issue.expression:
            item["expression"] = [message.scrub(e) for e in issue.expression]
        out.append(item)
    return {
        "resourceType": "OperationOutcome",
        "id": outcome_id,
        "meta": {"profile": [OUTCOME_PROFILE]},
        "issue": out,
    }


def _organization(entry: Entry) -> Any:
    """The Organization as the original carried it, without its narrative."""
    if entry.element is not None:
        tree = xml_tree(entry.element)
        for child in list(tree):
            if isinstance(child.tag, str) and child.tag.endswith("}text"):
                tree.remove(child)
        return tree
    return {k: v for k, v in entry.resource.items() if k != "text"}


def _sor_endpoint(entry: Entry) -> str:
    for ident in many(entry.resource, "identifier"):
        if text(ident, "system") == SOR_SYSTEM and text(ident, "value"):
            return SOR_ENDPOINT + str(text(ident, "value"))
    return SOR_ENDPOINT + "ukendt"


def _base(message: FhirMessage) -> str | None:
    """The RESTful base of the original's fullUrls (references then read `Type/id`), or None: urn:uuid."""
    m = _RESTFUL.match(message.header_full_url or "")
    return m.group(1) if m else None


def _url(base: str | None, rtype: str, rid: str) -> str:
    return f"{base}{rtype}/{rid}" if base else f"urn:uuid:{rid}"


def _ref_to(base: str | None, rtype: str, rid: str) -> str:
    return f"{rtype}/{rid}" if base else f"urn:uuid:{rid}"


def _ref(base: str | None, entry: Entry) -> str:
    return _ref_to(base, entry.resource_type, entry.id or "")
