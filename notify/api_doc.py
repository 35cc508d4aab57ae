"""The outage procedure's JSON API, declared for the OpenAPI document: each operation's method, path, who
may call it, its parameters, request body and answers, with the bodies as pydantic models.

The gateway generates the document from these declarations (`edigate.web.openapi` reads them through its
`OperationSpec` protocol: notify imports nothing of the gateway, so its operation is a small dataclass here;
parameters and answers are the shared leaf `notify.api_shapes`, the gateway's too). A test checks that
every `/api/` route notify registers is declared here and back.

Request members carry what the server checks in JSON Schema; the rules JSON Schema cannot say are marked
`x-server-rules` (the server answers 422 naming the field in `felter`). Lists of codes are marked
`x-enum-from` and get this installation's values (catalogue, partners, clusters) in the served document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema

from notify.api_shapes import EAN as _EAN
from notify.api_shapes import JSON, Content, JsonSchema, Param, Reply, Security, reply


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    security: Security
    responses: Mapping[int, Reply]
    parameters: Sequence[Param] = ()
    body: Mapping[str, Content] = field(default_factory=dict)
    route_path: str | None = None  # the aiohttp canonical path, when it is not `path`

    @property
    def route(self) -> str:
        return self.route_path or self.path


# ---------------------------------------------------------------------------------------------- schema parts

_ID31: JsonSchema = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}  # INTEGER columns (32 bits)
_TEXT_2000 = {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": r"\S"}
_TEXT_200 = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
_TIME_IN = {
    "type": "string",
    "format": "date-time",
    "pattern": "^20[0-9]{2}-",
    "description": "ISO 8601, years 2000-2099; without an offset: Danish time",
}
_WHEN = {"anyOf": [_TIME_IN, {"const": ""}, {"type": "null"}]}
_EMAIL = {
    "type": "string",
    "format": "email",
    "maxLength": 254,
    "x-server-rules": "a deliverable address (checked with email-validator); no CPR number",
}
#: names of the app's own values (the gateway fills them in): the procedure's organisations are the
#: partners, its catalogue the MedCom one
MESSAGE_TYPES, PARTNER_EANS, CLUSTERS = "message_types", "partner_eans", "clusters"


def _codes(what: str, values: str, *, min_items: int = 0) -> Any:
    """A list of known codes: a JSON array, or one string with the codes separated by commas or spaces."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "minItems": min_items, "items": {"type": "string", "x-enum-from": values}},
                {"type": "string", "x-server-rules": f"{what}, separated by commas or spaces"},
            ],
            "description": what,
        }
    )


def _schema(schema: Mapping[str, Any]) -> Any:
    return WithJsonSchema(dict(schema))


Codes = list[str] | str
Time = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]


class Body(BaseModel):
    """A JSON body of the API: a field left unset is left out, a field set to None is `null`."""

    model_config = ConfigDict(frozen=True)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


# ---------------------------------------------------------------------------------------------- requests


class Contact(Body):
    name: Annotated[str, _schema({**_TEXT_200, "x-server-rules": "no CPR number"})]
    phone: Annotated[
        str, _schema({"type": "string", "pattern": r"^\s*\+?[0-9 ()-]{8,20}\s*$", "x-server-rules": "no CPR number"})
    ]
    email: Annotated[str, _schema(_EMAIL)]


class IncidentInput(Body):
    """EDI-nedbrud/nedlukning. What JSON Schema can say is said here; the rules it cannot (marked
    `x-server-rules`) the server checks and answers 422 naming the field in `felter`. No free-text field
    may hold a CPR number."""

    kind: Literal["acute", "planned"]
    reporting_organisation: Annotated[
        str | None,
        _schema(
            {
                **_EAN,
                "description": "EAN of a partner; a reporter's own by default, and only its own",
                "x-server-rules": "a reporter may report only for its own organisation; an admin must name one",
            }
        ),
    ] = None
    role: Annotated[
        str | None,
        _schema(
            {
                "type": "string",
                "enum": ["eoj", "regional-it"],
                "x-server-rules": "a reporter's role is the one it was created with",
            }
        ),
    ] = None
    cause: Annotated[str, _schema({**_TEXT_2000, "x-server-rules": "no CPR number"})]
    affected_messages: Annotated[Codes, _codes("MedCom type codes of the catalogue", MESSAGE_TYPES, min_items=1)]
    affected_organisations: Annotated[Codes | None, _codes("partner EANs", PARTNER_EANS)] = None
    start: Annotated[
        str | None,
        _schema({**_WHEN, "x-server-rules": "required for a planned shutdown; an empty string or null means now"}),
    ] = None
    expected_end: Annotated[
        str, _schema({**_TIME_IN, "x-server-rules": "after `start` (or after now when there is none)"})
    ]
    contact: Contact


class IncidentUpdateInput(Body):
    """A status text, a new expected end, or both (at least one of them)."""

    model_config = ConfigDict(
        frozen=True, json_schema_extra={"anyOf": [{"required": ["text"]}, {"required": ["expected_end"]}]}
    )

    text: Annotated[
        str | None,
        _schema({**_TEXT_2000, "x-server-rules": "no CPR number; may be blank when `expected_end` is given"}),
    ] = None
    expected_end: Annotated[
        str | None, _schema({**_WHEN, "x-server-rules": "after the incident's start; empty or null: unchanged"})
    ] = None


class IncidentResolveInput(Body):
    text: Annotated[str | None, _schema({"type": "string", "maxLength": 2000, "x-server-rules": "no CPR number"})] = (
        None
    )


class IncidentScopeInput(Body):
    """The desk widens or narrows who an incident concerns (the whole new list)."""

    affected_organisations: Annotated[Codes, _codes("partner EANs", PARTNER_EANS)]


class PortalActionInput(Body):
    action: Literal["request", "done", "withdraw"]


class SubscriptionInput(Body):
    """Without organisations, clusters and message types: every outage."""

    email: Annotated[str, _schema(_EMAIL)]
    organisations: Annotated[Codes | None, _codes("partner EANs", PARTNER_EANS)] = None
    clusters: Annotated[Codes | None, _codes("health clusters", CLUSTERS)] = None
    message_types: Annotated[Codes | None, _codes("MedCom type codes of the catalogue", MESSAGE_TYPES)] = None


class OrganisationEdit(Body):
    """Only the members to change (at least one)."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"minProperties": 1})

    mailbox: Annotated[
        str | None,
        _schema(
            {
                "anyOf": [{**_EMAIL, "x-server-rules": "a deliverable address"}, {"const": ""}, {"type": "null"}],
                "description": "the functional mailbox; empty or null: none (the organisation leaves the lists)",
            }
        ),
    ] = None
    clusters: Annotated[
        Codes | None,
        _schema(
            {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
                "x-server-rules": "health cluster names of 1-64 characters without commas or control characters "
                "(a string: separated by commas)",
            }
        ),
    ] = None


_PHONE = {"type": "string", "x-server-rules": "a telephone number of at most 40 characters; no CPR number"}


class ContactsEdit(Body):
    """Only the members to change (at least one)."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={"minProperties": 1})

    edi_support_phone: Annotated[str | None, _schema(_PHONE)] = None
    on_call_phone: Annotated[str | None, _schema(_PHONE)] = None
    edi_support_email: Annotated[
        str | None, _schema({"anyOf": [{**_EMAIL, "x-server-rules": "a deliverable address"}, {"const": ""}]})
    ] = None
    duty_phones: Annotated[
        dict[str, str] | str | None,
        _schema(
            {
                "anyOf": [{"type": "object", "additionalProperties": {"type": "string"}}, {"type": "string"}],
                "x-server-rules": "municipality name -> telephone number (a string: lines `name: number`)",
            }
        ),
    ] = None


# ---------------------------------------------------------------------------------------------- answers


class NotifyError(Body):
    """The outage procedure's error body: what is wrong, in Danish; `felter` names the invalid fields."""

    fejl: str = Field(description="what is wrong, in Danish")
    felter: dict[str, str] | None = None


class ContactOut(Body):
    name: str
    phone: str
    email: str


class Plan(Body):
    notify: bool
    handled_at: Time
    handled_by: str
    first_notice_at: Time
    downtime_minutes: int


class Incident(Body):
    id: int
    kind: Literal["acute", "planned"]
    state: str
    reporting_organisation: str
    reporting_organisation_name: str | None
    role: str
    cause: str
    affected_messages: list[str]
    affected_organisations: list[str]
    start: Time
    expected_end: Time
    reported_at: Time
    resolved_at: Time
    last_update_at: Time
    contact: ContactOut
    plan: Plan
    url: str


class StatusUpdate(Body):
    at: Time
    author: str
    text: str
    expected_end: Time


class Notice(Body):
    id: int
    kind: str
    created_at: Time
    subject: str
    next_status_at: Time


class Recipient(Body):
    notice_id: int
    notice: str = Field(description="the notice's kind")
    channel: str
    address: str
    source: str
    status: str
    attempts: int
    error: str | None
    sent_at: Time


class DeliveryError(Body):
    channel: str
    address: str
    status: str
    error: str | None


class AuditEntry(Body):
    at: Time
    actor: str
    action: str
    detail: str


class IncidentDetail(Incident):
    """One incident with its updates, notices, recipients, delivery errors and audit trail."""

    updates: list[StatusUpdate]
    notices: list[Notice]
    recipients: list[Recipient]
    errors: list[DeliveryError]
    audit: list[AuditEntry]


class IncidentList(Body):
    incidents: list[Incident]


class SubscriptionCreated(Body):
    id: int
    email: str
    state: str
    besked: str


class SubscriptionRequested(Body):
    email: str
    state: Literal["pending"]
    besked: str


class Subscription(Body):
    id: int
    email: str
    state: str
    organisations: list[str]
    clusters: list[str]
    message_types: list[str]
    created_at: Time
    created_by: str


class SubscriptionList(Body):
    subscriptions: list[Subscription]


class SubscriptionState(Body):
    id: int
    state: str


class PortalTask(Body):
    incident_id: int
    requested_at: Time
    requested_by: str | None
    done_at: Time
    done_by: str | None
    text: str = Field(description="the text to post on sundhed.dk")


class PortalTaskList(Body):
    tasks: list[PortalTask]


class PortalTaskAnswer(Body):
    """The incident's task after the action (`task` null once withdrawn)."""

    incident_id: int
    task: PortalTask | None


class DirectoryOrganisation(Body):
    ean: str
    name: str
    kind: str
    mailbox: str | None
    clusters: list[str]
    changed_at: str | None = Field(description="when the desk last changed it (null: as configured)")
    changed_by: str | None


class DirectoryContacts(Body):
    edi_support_phone: str
    on_call_phone: str
    edi_support_email: str
    duty_phones: dict[str, str]


class DirectoryChange(Body):
    """One change of the directory, with the values before and after (Danish member names, as audited)."""

    at: str
    actor: str
    what: str = Field(alias="hvad")
    before: dict[str, JsonValue] = Field(alias="før")
    after: dict[str, JsonValue] = Field(alias="efter")


class Directory(Body):
    organisations: list[DirectoryOrganisation]
    contacts: DirectoryContacts
    history: list[DirectoryChange]


# ---------------------------------------------------------------------------------------------- operations


def _err(description: str) -> Reply:
    return reply(description, NotifyError)


_OBJECT: JsonSchema = {"type": "object"}
_UNAUTHORIZED = _err("Missing or unknown token (Danish text in `fejl`).")
_NOT_JSON = _err("Not a JSON object.")
_IID = Param("id", "path", _ID31, "incident id")
_DESK_ONLY = _err("Only the desk (EDI support, on-call, Regional IT).")
_ADMINS_ONLY = _err("Admins only.")


def _incident_action(action: str, body: type[BaseModel] | None, summary: str, forbidden: str) -> Operation:
    responses = {
        200: reply("The incident after the change.", Incident),
        401: _UNAUTHORIZED,
        403: _err(forbidden),
        404: _err("No such incident."),
        409: _err("Not possible in the incident's state."),
    }
    if body is not None:
        responses |= {400: _NOT_JSON, 422: _err("Invalid fields (`felter`).")}
    return Operation(
        "post",
        f"/api/v1/incidents/{{id}}/{action}",
        f"{action}Incident",
        summary,
        "incidents",
        "bearer",
        responses,
        parameters=(_IID,),
        body={JSON: body} if body is not None else {},
        route_path="/api/v1/incidents/{id}/{action}",
    )


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/api/v1/incidents",
        "createIncident",
        "Report an EDI outage or planned shutdown (reporter or admin)",
        "incidents",
        "bearer",
        {
            201: reply("Stored; `Location` names it.", Incident),
            400: _NOT_JSON,
            401: _UNAUTHORIZED,
            403: _err("Not allowed."),
            422: _err("Invalid fields (`felter`), nothing stored."),
        },
        body={JSON: IncidentInput},
    ),
    Operation(
        "get",
        "/api/v1/incidents",
        "listIncidents",
        "All incidents, newest first (reporter or admin)",
        "incidents",
        "bearer",
        {200: reply("Incidents.", IncidentList), 401: _UNAUTHORIZED},
    ),
    Operation(
        "get",
        "/api/v1/incidents/{id}",
        "getIncident",
        "One incident with updates, notices, recipients and audit trail",
        "incidents",
        "bearer",
        {200: reply("The incident.", IncidentDetail), 401: _UNAUTHORIZED, 404: _err("No such incident.")},
        parameters=(_IID,),
    ),
    _incident_action(
        "updates",
        IncidentUpdateInput,
        "Add a status update and/or a new expected end",
        "Only the reporting organisation or an admin.",
    ),
    _incident_action(
        "resolve",
        IncidentResolveInput,
        "Resolve the incident (sends the resolved notice)",
        "Only the reporting organisation or an admin.",
    ),
    _incident_action("confirm", None, "Confirm a draft incident (admin: EDI-support)", "Admins only."),
    _incident_action(
        "scope",
        IncidentScopeInput,
        "Change which organisations the incident concerns (the desk)",
        "Only the desk (EDI support, on-call, Regional IT).",
    ),
    Operation(
        "post",
        "/api/v1/incidents/{id}/visinfosyd",
        "incidentPortalTask",
        "Request, mark done or withdraw the incident's sundhed.dk post (the desk)",
        "incidents",
        "bearer",
        {
            200: reply("The incident's task (`task` null once withdrawn).", PortalTaskAnswer),
            400: _NOT_JSON,
            401: _UNAUTHORIZED,
            403: _DESK_ONLY,
            404: _err("No such incident."),
            409: _err("Not possible in the task's or incident's state."),
            422: _err("Unknown `action`."),
        },
        parameters=(_IID,),
        body={JSON: PortalActionInput},
    ),
    Operation(
        "get",
        "/api/v1/visinfosyd",
        "listPortalTasks",
        "The desk's sundhed.dk tasks (`?open=1`: only those still to post)",
        "incidents",
        "bearer",
        {
            200: reply("Tasks.", PortalTaskList),
            400: reply("A query parameter other than `open` (the reason names how many).", NotifyError),
            401: _UNAUTHORIZED,
            403: _DESK_ONLY,
        },
        parameters=(Param("open", "query", {"enum": ["0", "1"]}, "1: only the tasks still to post"),),
    ),
    Operation(
        "post",
        "/api/v1/subscriptions",
        "subscribe",
        "Subscribe a mail address to outage notices (confirmed by mail unless admin)",
        "subscriptions",
        "optional",
        {
            201: reply("Active at once (an admin created it).", SubscriptionCreated),
            202: reply(
                "A confirmation mail is sent, unless one is already pending for the address (the same answer "
                "either way).",
                SubscriptionRequested,
            ),
            400: _NOT_JSON,
            401: _UNAUTHORIZED,
            422: _err("Invalid fields (`felter`)."),
            429: _err("Too many requests from this client address; see `Retry-After`."),
        },
        body={JSON: SubscriptionInput},
    ),
    Operation(
        "get",
        "/api/v1/subscriptions",
        "listSubscriptions",
        "All subscriptions, with removed ones (admin)",
        "subscriptions",
        "bearer",
        {200: reply("Subscriptions.", SubscriptionList), 401: _UNAUTHORIZED, 403: _ADMINS_ONLY},
    ),
    Operation(
        "delete",
        "/api/v1/subscriptions/{id}",
        "removeSubscription",
        "Remove a subscription (admin)",
        "subscriptions",
        "bearer",
        {
            200: reply("Removed.", SubscriptionState),
            401: _UNAUTHORIZED,
            403: _ADMINS_ONLY,
            404: _err("No such subscription."),
        },
        parameters=(Param("id", "path", _ID31, "subscription id"),),
    ),
    Operation(
        "get",
        "/api/v1/subscriptions/confirm/{token}",
        "confirmSubscription",
        "The link in the confirmation mail (answers with an HTML page)",
        "subscriptions",
        "none",
        {
            200: reply("Confirmed.", {"type": "string"}, "text/html"),
            404: reply("Unknown or removed.", {"type": "string"}, "text/html"),
        },
        parameters=(Param("token", "path", {"type": "string", "minLength": 1}, "from the mail"),),
    ),
    # the directory the desk edits (notify/directory_web.py)
    Operation(
        "get",
        "/api/v1/directory",
        "getDirectory",
        "Organisations, contacts and the change history of the directory (admin)",
        "directory",
        "bearer",
        {200: reply("The directory.", Directory), 401: _UNAUTHORIZED, 403: _ADMINS_ONLY},
    ),
    Operation(
        "put",
        "/api/v1/directory/organisations/{ean}",
        "editDirectoryOrganisation",
        "Change one organisation's mailbox, clusters and contacts (admin)",
        "directory",
        "bearer",
        {
            200: reply("The organisation as stored.", DirectoryOrganisation),
            400: _NOT_JSON,
            401: _UNAUTHORIZED,
            403: _ADMINS_ONLY,
            404: _err("No such organisation."),
            422: _err("Invalid fields (`felter`), nothing stored."),
        },
        parameters=(Param("ean", "path", _EAN, "the organisation's EAN"),),
        body={JSON: OrganisationEdit},
    ),
    Operation(
        "put",
        "/api/v1/directory/contacts",
        "editDirectoryContacts",
        "Change the procedure's contacts (admin)",
        "directory",
        "bearer",
        {
            200: reply("The contacts as stored.", DirectoryContacts),
            400: _NOT_JSON,
            401: _UNAUTHORIZED,
            403: _ADMINS_ONLY,
            422: _err("Invalid fields (`felter`), nothing stored."),
        },
        body={JSON: ContactsEdit},
    ),
)
