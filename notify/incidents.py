"""Incident input and state machine: draft (auto-detected) -> open -> resolved.

Input from the form and the JSON API is validated here into a `NewIncident`; every problem is reported
per field in Danish and nothing is stored unless all fields are valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from notify.addresses import InvalidAddress, danish_error, normalise_address
from notify.cpr import contains_cpr
from notify.model import KINDS, ROLES, ContactPerson, Incident, NewIncident, Organisation

PHONE = re.compile(r"^\+?[0-9 ()-]{8,20}$")
MAX_TEXT = 2000
FIRST_YEAR, LAST_YEAR = 2000, 2099  # times outside are typing errors, and overflow date arithmetic
INCIDENT_FIELDS = (
    "kind",
    "reporting_organisation",
    "role",
    "cause",
    "affected_messages",
    "affected_organisations",
    "start",
    "expected_end",
    "contact_name",
    "contact_phone",
    "contact_email",
)
SUBSCRIPTION_FIELDS = ("email", "organisations", "clusters", "message_types")


@dataclass(frozen=True)
class Actor:
    """Who acts: an authenticated reporter (for one organisation) or an admin (any), or the system."""

    name: str
    is_admin: bool
    organisation: str | None = None
    role: str | None = None  # eoj | regional-it, for reporters


SYSTEM = Actor("edigate", True)


def allowed_roles(actor: Actor) -> tuple[str, ...]:
    """The roles `actor` may report in: a reporter only in the one it is set up with (a municipality's EOJ
    system owner is not Regional IT), an admin in either. The form offers exactly these."""
    if actor.is_admin or not actor.role:
        return ROLES
    return (actor.role,)


class InvalidInput(ValueError):
    """Field -> Danish message. Raised before anything is stored."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class InvalidTransition(ValueError):
    """The incident is not in a state that allows the action (message in Danish)."""


def parse_time(value: Any, zone: ZoneInfo) -> datetime | None:
    """ISO 8601 with offset or Z; a naive time (also the form's 'YYYY-MM-DDTHH:MM') is local time."""
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, str) and value.strip():
        try:
            t = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    if not FIRST_YEAR <= t.year <= LAST_YEAR:  # far times overflow date arithmetic (reminders, notices)
        return None
    return t.astimezone(UTC)


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    return value.strip() if isinstance(value, str) else ""


def unknown_organisations(unknown: Sequence[str]) -> str:
    """The error for EANs that are no partner's. Only values shaped like an EAN (13 digits) are repeated:
    anything else may be a CPR number typed into the field (issue 10 #5)."""
    if all(len(o) == 13 and o.isascii() and o.isdigit() for o in unknown):
        return "Ukendt organisation (EAN): " + ", ".join(unknown[:5])
    return "Ikke et gyldigt EAN/GLN-nummer (13 cifre med GS1-kontrolciffer); værdien gentages ikke."


def parse_codes(data: Mapping[str, Any], name: str) -> list[str] | None:
    value = data.get(name, [])
    if isinstance(value, str):
        value = [v for v in re.split(r"[\s,]+", value) if v]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return None
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


#: every field a person types into (form and API), with the label the form shows: none may hold a CPR
FREE_TEXT_FIELDS = {
    "kind": "Type",
    "reporting_organisation": "Indberettende organisation",
    "role": "Rolle",
    "cause": "Årsag til fejl",
    "affected_messages": "Berørte meddelelser",
    "affected_organisations": "Berørte organisationer",
    "start": "Start",
    "expected_end": "Forventet afslutning",
    "contact_name": "Kontaktperson, navn",
    "contact_phone": "Kontaktperson, telefon",
    "contact_email": "Kontaktperson, e-mail",
    "text": "Status",
    "email": "E-mail",
    "organisations": "Organisationer",
    "clusters": "Sundhedsklynger",
    "message_types": "Meddelelsestyper",
}


def cpr_message(label: str) -> str:
    return (
        f"Feltet »{label}« ser ud til at indeholde et CPR-nummer. Skriv aldrig CPR-numre her: "
        "indberetningen vises på statussiden, i feedet og i mails."
    )


def refuse_cpr(data: Mapping[str, Any], fields: Sequence[str]) -> None:
    """InvalidInput naming every field of `fields` whose text (or any list item) holds a CPR number.

    Checked before anything else, so a CPR is never stored and never echoed in another error message
    (e.g. "unknown organisation …")."""
    errors: dict[str, str] = {}
    for name in fields:
        value = data.get(name)
        items = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, str) and contains_cpr(v) for v in items):
            errors[name] = cpr_message(FREE_TEXT_FIELDS.get(name, name))
    if errors:
        raise InvalidInput(errors)


def flatten_contact(data: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the API's nested `contact: {name, phone, email}` as well as the form's flat fields."""
    flat = dict(data)
    contact = data.get("contact")
    if isinstance(contact, Mapping):
        for key in ("name", "phone", "email"):
            flat.setdefault(f"contact_{key}", contact.get(key))
    return flat


def parse_incident(
    data: Mapping[str, Any],
    *,
    actor: Actor,
    organisations: Mapping[str, Organisation],
    catalogue: Mapping[str, str],
    now: datetime,
    zone: ZoneInfo,
    source: str,
) -> NewIncident:
    """Validate a report into a NewIncident, or raise InvalidInput with Danish messages per field."""
    data = flatten_contact(data)
    refuse_cpr(data, INCIDENT_FIELDS)
    errors: dict[str, str] = {}

    kind = _text(data, "kind")
    if kind not in KINDS:
        errors["kind"] = "Vælg om det er et akut nedbrud eller en planlagt nedlukning."

    org = _text(data, "reporting_organisation") or (actor.organisation or "")
    if not actor.is_admin and org != actor.organisation:
        errors["reporting_organisation"] = "Du kan kun indberette for din egen organisation."
    elif not org:
        errors["reporting_organisation"] = "Vælg den indberettende organisation."
    elif actor.is_admin and org not in organisations:
        errors["reporting_organisation"] = "Ukendt organisation (EAN-nummeret findes ikke i partnerlisten)."

    role = _text(data, "role") or (actor.role or "")
    if role in ROLES and role not in allowed_roles(actor):
        errors["role"] = "Rollen skal være den, du er oprettet med."
    elif role not in ROLES:
        errors["role"] = "Vælg rolle: kommunens EOJ-systemansvarlige eller Regional IT."

    cause = _text(data, "cause")
    if not cause:
        errors["cause"] = "Skriv årsagen til fejlen."
    elif len(cause) > MAX_TEXT:
        errors["cause"] = f"Årsagen må højst være {MAX_TEXT} tegn."

    messages = parse_codes(data, "affected_messages")
    if messages is None:
        errors["affected_messages"] = "Berørte meddelelser skal være en liste af meddelelsestyper."
    elif not messages:
        errors["affected_messages"] = "Vælg mindst én berørt meddelelse."
    else:
        unknown = [m for m in messages if m not in catalogue]
        if unknown:
            errors["affected_messages"] = "Ukendt meddelelsestype: " + ", ".join(unknown[:5])

    orgs = parse_codes(data, "affected_organisations")
    if orgs is None:
        errors["affected_organisations"] = "Berørte organisationer skal være en liste af EAN-numre."
    else:
        unknown = [o for o in orgs if o not in organisations]
        if unknown:
            errors["affected_organisations"] = unknown_organisations(unknown)

    start_raw = data.get("start")
    start = parse_time(start_raw, zone) if start_raw not in (None, "") else None
    if start_raw not in (None, "") and start is None:
        errors["start"] = "Angiv start som dato og klokkeslæt (fx 2026-11-23T08:00)."
    elif start is None and kind == "planned":
        errors["start"] = "Angiv hvornår den planlagte nedlukning starter."
    end_raw = data.get("expected_end")
    expected_end = parse_time(end_raw, zone)
    if expected_end is None:
        errors["expected_end"] = (
            "Angiv forventet afslutning (forventet nedetid) som dato og klokkeslæt."
            if end_raw in (None, "")
            else "Forventet afslutning skal være en dato og et klokkeslæt (fx 2026-11-23T12:00)."
        )
    elif expected_end <= (start or now):
        errors["expected_end"] = "Forventet afslutning skal ligge efter start."

    name, phone, email = (_text(data, f"contact_{k}") for k in ("name", "phone", "email"))
    if not name:
        errors["contact_name"] = "Skriv kontaktpersonens navn."
    elif len(name) > 200:
        errors["contact_name"] = "Navnet er for langt."
    if not PHONE.match(phone):
        errors["contact_phone"] = "Skriv kontaktpersonens telefonnummer (mindst 8 cifre)."
    try:
        email = normalise_address(email)
    except InvalidAddress as exc:
        errors["contact_email"] = danish_error("Kontaktpersonens e-mail", exc)

    if errors:
        raise InvalidInput(errors)
    assert expected_end is not None
    return NewIncident(
        kind=kind,  # type: ignore[arg-type]
        state="open",
        reporting_organisation=org,
        role=role,  # type: ignore[arg-type]
        reported_by=actor.name,
        source=source,
        cause=cause,
        affected_messages=tuple(messages or ()),
        affected_organisations=tuple(orgs or ()),
        start=start or now,
        expected_end=expected_end,
        reported_at=now,
        contact=ContactPerson(name, phone, email),
    )


@dataclass(frozen=True)
class UpdateInput:
    text: str
    expected_end: datetime | None


def parse_update(data: Mapping[str, Any], incident: Incident, zone: ZoneInfo) -> UpdateInput:
    """A status update and/or a revised estimate; Danish errors per field."""
    refuse_cpr(data, ("text", "expected_end"))
    errors: dict[str, str] = {}
    text = _text(data, "text")
    end_raw = data.get("expected_end")
    expected_end = parse_time(end_raw, zone) if end_raw not in (None, "") else None
    if end_raw not in (None, "") and expected_end is None:
        errors["expected_end"] = "Forventet afslutning skal være en dato og et klokkeslæt (fx 2026-11-23T12:00)."
    elif expected_end is not None and expected_end <= incident.start:
        errors["expected_end"] = "Forventet afslutning skal ligge efter start."
    if not text and expected_end is None and "expected_end" not in errors:
        errors["text"] = "Skriv en status eller angiv et nyt forventet sluttidspunkt."
    elif len(text) > MAX_TEXT:
        errors["text"] = f"Status må højst være {MAX_TEXT} tegn."
    if errors:
        raise InvalidInput(errors)
    return UpdateInput(text or "Nyt forventet sluttidspunkt.", expected_end)


def parse_resolve(data: Mapping[str, Any]) -> str:
    refuse_cpr(data, ("text",))
    text = _text(data, "text")
    errors: dict[str, str] = {}
    if len(text) > MAX_TEXT:
        errors["text"] = f"Teksten må højst være {MAX_TEXT} tegn."
    if errors:
        raise InvalidInput(errors)
    return text or "Problemet er løst."


def check_can_update(incident: Incident) -> None:
    if incident.state == "closed":
        raise InvalidTransition("Kladden er lukket uden at være bekræftet og kan ikke opdateres.")
    if incident.state == "resolved":
        raise InvalidTransition("Hændelsen er allerede løst og kan ikke opdateres.")


def check_can_resolve(incident: Incident) -> None:
    if incident.state == "closed":
        raise InvalidTransition("Kladden er allerede lukket.")
    if incident.state == "resolved":
        raise InvalidTransition("Hændelsen er allerede løst.")


def check_can_confirm(incident: Incident) -> None:
    if incident.state == "closed":
        raise InvalidTransition("Kladden er lukket, fordi forbindelsen virker igen; den kan ikke bekræftes.")
    if incident.state != "draft":
        raise InvalidTransition("Kun en kladde (automatisk registreret hændelse) kan bekræftes.")


def is_desk(actor: Actor) -> bool:
    """The people who run the procedure (EDI support / on-call as admins, and Regional IT): they see drafts,
    which stay internal until a person confirms them."""
    return actor.is_admin or actor.role == "regional-it"


def may_act_on(actor: Actor, incident: Incident) -> bool:
    """Reporters act on their own organisation's incidents; admins on all."""
    return actor.is_admin or actor.organisation == incident.reporting_organisation


def names_of(codes: Sequence[str], catalogue: Mapping[str, str]) -> list[str]:
    return [f"{catalogue.get(c, c)} ({c})" for c in codes]
