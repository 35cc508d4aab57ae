"""The JSON bodies `POST /api/v1/messages` answers with, as types (pydantic models).

The stages and adapters build their answers from these models, and the OpenAPI document
(`edigate.web.openapi`) describes the operation from the same models, so the two cannot drift apart.
A field with a default is optional: it appears in the JSON only when a stage set it (`ApiModel.as_json`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from edigate.ingest.model import Answer
from edigate.store.states import MessageState

#: the states of a stored message (edigate.store.states), as the API shows them
MessageStateName = Annotated[str, WithJsonSchema({"type": "string", "enum": [s.value for s in MessageState]})]


class ApiModel(BaseModel):
    """A JSON body of the API: a field left unset is left out, a field set to None is `null`."""

    model_config = ConfigDict(frozen=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class ApiError(ApiModel):
    """The gateway's error body: what is wrong in `reason` (English, never personal data)."""

    status: Literal["error", "rejected"]
    reason: str


class FieldError(ApiModel):
    """One reason a message is refused (OIOXML: line and XPath; FHIR: FHIRPath and severity)."""

    message: str | None
    line: int | None = None
    path: str | None = None
    severity: str | None = None


class MessageAccepted(ApiModel):
    """202: accepted and committed. OIOXML answers carry envelope_id and letters; FHIR answers format,
    bundle_id and message_header_id."""

    id: int
    status: Literal["accepted"]
    format: Literal["fhir"] | None = None
    type: str | None = Field(None, description="MedCom type code (XDIS91) or FHIR standard (CareCommunication)")
    envelope_id: str | None = None
    letters: list[str] | None = None
    bundle_id: str | None = None
    message_header_id: str | None = None


class MessageDuplicate(ApiModel):
    """200: the same envelope/letters again: not delivered again (a receipt may be resent)."""

    duplicate: Literal[True]
    id: int
    status: Literal["accepted", "rejected"]
    state: MessageStateName | None = None
    format: Literal["fhir"] | None = None
    refuse_code: str | None = None
    receipt_resent: bool | None = None
    acknowledgement_resent: bool | None = None
    envelope_id: str | None = None
    letters: list[str] | None = None
    bundle_id: str | None = None
    message_header_id: str | None = None


class MessageRejected(ApiModel):
    """422: refused with a MedCom refuse code; `receipt` is the negative receipt (XCTL02) queued to the
    sender, when one could be built. FHIR refusals without an Acknowledgement name no refuse code."""

    id: int | None = None
    status: Literal["rejected"]
    format: Literal["fhir"] | None = None
    refuse_code: str | None = None
    reason: str | None = None
    errors: list[FieldError] | None = None
    receipt: str | None = None
    receipt_id: int | None = None
    envelope_id: str | None = None
    letters: list[str] | None = None
    bundle_id: str | None = None
    message_header_id: str | None = None


class FhirUnavailable(ApiError):
    """503 for a FHIR message that cannot be acknowledged: validation is not possible now."""

    format: Literal["fhir"]


def reply(status: int, body: ApiModel, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, body.as_json(), headers=headers or {})


def error(status: int, reason: str, *, kind: Literal["error", "rejected"] = "error") -> Answer:
    """`{"status": "rejected" | "error", "reason": …}`, as edigate.web.errors.error."""
    return reply(status, ApiError(status=kind, reason=reason))
