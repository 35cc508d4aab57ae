"""The procedure's directory, editable without a restart: each organisation's functional mailbox and
clusters (which decide the distribution lists), and the contacts card (EDI support, on-call, the
municipalities' duty phones).

"De enkelte kommuner/sygehuse har tillige ansvaret for at sikre, at der er en funktionspostkasse til hver
organisation og til at melde ændringer i mailadresser til EDI-servicedesk": the desk records such a change
at once. The TOML config stays the seed; an edit is stored in the database as an override of the seed's
values, applied in place to the running service (and read again by every instance every few seconds), and
audited with who, when, before and after.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from notify.addresses import InvalidAddress, danish_error, normalise_address
from notify.config import Contacts
from notify.cpr import contains_cpr
from notify.incidents import InvalidInput
from notify.model import AuditEntry, Organisation

log = structlog.get_logger(logger_name="notify.directory")
REFRESH_SECONDS = 3.0
CONTACTS_KEY = "contacts"
ORG_PREFIX = "organisation:"
MAX_PHONE = 60
MAX_NAME = 80
CLUSTER = re.compile(r"^[^\x00-\x1f\x7f,]{1,64}$")
AUDIT_ACTION = "kartotek ændret"


@dataclass(frozen=True)
class Override:
    key: str  # "contacts" or "organisation:<ean>"
    values: dict[str, Any]
    updated_at: datetime
    updated_by: str


class DirectoryStore(Protocol):
    async def all(self) -> list[Override]: ...

    async def put(self, override: Override, audit: AuditEntry) -> None: ...

    async def history(self, limit: int = 200) -> list[AuditEntry]: ...


class MemoryDirectoryStore:
    """In-process `DirectoryStore` (unit tests, a service without a database)."""

    def __init__(self) -> None:
        self.rows: dict[str, Override] = {}
        self.audit: list[AuditEntry] = []

    async def all(self) -> list[Override]:
        return list(self.rows.values())

    async def put(self, override: Override, audit: AuditEntry) -> None:
        self.rows[override.key] = override
        self.audit.append(audit)

    async def history(self, limit: int = 200) -> list[AuditEntry]:
        return self.audit[-limit:][::-1]


# ---- validation: every problem per field, in Danish; nothing stored unless all is valid
def _phone(value: Any, label: str, errors: dict[str, str], field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors[field] = f"{label} skal være tekst."
        return ""
    text = " ".join(value.split())
    if len(text) > MAX_PHONE:
        errors[field] = f"{label} må højst være {MAX_PHONE} tegn."
    elif contains_cpr(text):
        errors[field] = f"{label} må ikke indeholde et CPR-nummer."
    elif text and not re.search(r"[0-9]{2}", text):
        errors[field] = f"{label} skal være et telefonnummer."
    return text


def parse_organisation(data: Mapping[str, Any]) -> dict[str, Any]:
    """`{"mailbox": str | "" , "clusters": [str]}` -> the override values, or InvalidInput."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    if "mailbox" in data:
        raw = data.get("mailbox")
        if raw in (None, ""):
            values["mailbox"] = None  # no functional mailbox: the organisation drops off the lists
        else:
            try:
                values["mailbox"] = normalise_address(raw)
            except InvalidAddress as exc:
                errors["mailbox"] = danish_error("Funktionspostkasse", exc)
    if "clusters" in data:
        raw = data.get("clusters")
        if isinstance(raw, str):
            raw = [c for c in (part.strip() for part in raw.split(",")) if c]
        if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
            errors["clusters"] = "Sundhedsklynger skal være en liste af navne."
        elif any(not CLUSTER.match(c.strip()) for c in raw):
            errors["clusters"] = "Et klyngenavn er 1-64 tegn uden komma og kontroltegn."
        else:
            values["clusters"] = sorted({" ".join(c.split()) for c in raw})
    unknown = set(data) - {"mailbox", "clusters", "csrf"}
    if unknown:
        errors["felter"] = "Ukendte felter: " + ", ".join(sorted(unknown)[:5])
    if not values and not errors:
        errors["felter"] = "Angiv mailbox og/eller clusters."
    if errors:
        raise InvalidInput(errors)
    return values


def parse_duty_phones(raw: Any, errors: dict[str, str]) -> dict[str, str]:
    """A mapping, or the form's lines "Kommune: telefon"."""
    if isinstance(raw, str):
        pairs: list[tuple[str, str]] = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            name, sep, phone = line.partition(":")
            if not sep or not name.strip() or not phone.strip():
                errors["duty_phones"] = f'Linje {n}: skriv "Kommune: telefonnummer".'
                return {}
            pairs.append((name, phone))
        raw = dict(pairs)
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        errors["duty_phones"] = "Vagttelefoner skal være navn → telefonnummer."
        return {}
    phones: dict[str, str] = {}
    for name, phone in raw.items():
        clean = " ".join(name.split())
        if not clean or len(clean) > MAX_NAME or contains_cpr(clean):
            errors["duty_phones"] = f"Et navn er 1-{MAX_NAME} tegn uden CPR-nummer."
            return {}
        phones[clean] = _phone(phone, f"Vagttelefonen for {clean}", errors, "duty_phones")
    return phones


def parse_contacts(data: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for field, label in (("edi_support_phone", "EDI-supportens telefon"), ("on_call_phone", "Vagtens telefon")):
        if field in data:
            values[field] = _phone(data.get(field), label, errors, field)
    if "edi_support_email" in data:
        raw = data.get("edi_support_email")
        try:
            values["edi_support_email"] = "" if raw in (None, "") else normalise_address(raw)
        except InvalidAddress as exc:
            errors["edi_support_email"] = danish_error("EDI-supportens e-mail", exc)
    if "duty_phones" in data:
        values["duty_phones"] = parse_duty_phones(data.get("duty_phones"), errors)
    unknown = set(data) - {"edi_support_phone", "on_call_phone", "edi_support_email", "duty_phones", "csrf"}
    if unknown:
        errors["felter"] = "Ukendte felter: " + ", ".join(sorted(unknown)[:5])
    if not values and not errors:
        errors["felter"] = "Angiv mindst ét felt."
    if errors:
        raise InvalidInput(errors)
    return values


# ---- the running directory
def org_values(org: Organisation) -> dict[str, Any]:
    return {"mailbox": org.mailbox, "clusters": list(org.clusters)}


def contact_values(contacts: Contacts) -> dict[str, Any]:
    return {
        "edi_support_phone": contacts.edi_support_phone,
        "on_call_phone": contacts.on_call_phone,
        "edi_support_email": contacts.edi_support_email,
        "duty_phones": dict(contacts.duty_phones),
    }


class Directory:
    """The seed (TOML) plus the stored overrides, applied in place to the service's organisations (a dict
    shared with the mail context and the scheduler) and its contacts."""

    def __init__(
        self,
        store: DirectoryStore,
        organisations: MutableMapping[str, Organisation],
        seed_contacts: Contacts,
    ) -> None:
        self.store = store
        self.organisations = organisations
        self.seed_orgs = dict(organisations)
        self.seed_contacts = seed_contacts
        self.contacts = seed_contacts
        self.overrides: dict[str, Override] = {}
        self.on_contacts: Callable[[Contacts], None] = lambda contacts: None

    async def refresh(self) -> None:
        """Read the overrides again and apply them (also the ones another instance stored)."""
        self.apply(await self.store.all())

    async def refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except Exception as exc:  # storage trouble: keep the last known directory, try again later
            log.warning("notify_directory_refresh_failed", error=type(exc).__name__)

    async def run(self) -> None:
        """Every few seconds: another instance's edits are in force here too, without a restart."""
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                raise asyncio.CancelledError  # a cancel swallowed below (see OutboxSender.run)
            await asyncio.sleep(REFRESH_SECONDS)
            await self.refresh_quietly()

    def apply(self, overrides: list[Override]) -> None:
        self.overrides = {o.key: o for o in overrides}
        for ean, seed in self.seed_orgs.items():
            o = self.overrides.get(ORG_PREFIX + ean)
            org = seed
            if o is not None:
                org = replace(
                    seed,
                    mailbox=o.values.get("mailbox", seed.mailbox),
                    clusters=tuple(o.values.get("clusters", seed.clusters)),
                )
            if self.organisations.get(ean) != org:
                self.organisations[ean] = org
        c = self.overrides.get(CONTACTS_KEY)
        contacts = self.seed_contacts.model_copy(update=c.values) if c else self.seed_contacts
        if contacts != self.contacts:
            self.contacts = contacts
            self.on_contacts(contacts)

    def source(self, key: str) -> Override | None:
        return self.overrides.get(key)

    async def edit_organisation(self, ean: str, data: Mapping[str, Any], actor: str, now: datetime) -> Organisation:
        org = self.organisations.get(ean)
        if org is None:
            raise KeyError(ean)
        values = parse_organisation(data)
        before = org_values(org)
        after = {**before, **values}
        await self._store(ORG_PREFIX + ean, f"{org.name} ({ean})", before, after, actor, now)
        return self.organisations[ean]

    async def edit_contacts(self, data: Mapping[str, Any], actor: str, now: datetime) -> Contacts:
        values = parse_contacts(data)
        before = contact_values(self.contacts)
        after = {**before, **values}
        await self._store(CONTACTS_KEY, "kontaktkortet", before, after, actor, now)
        return self.contacts

    async def _store(
        self, key: str, what: str, before: dict[str, Any], after: dict[str, Any], actor: str, now: datetime
    ) -> None:
        detail = json.dumps({"hvad": what, "før": before, "efter": after}, ensure_ascii=False, sort_keys=True)
        await self.store.put(Override(key, after, now, actor), AuditEntry(now, actor, AUDIT_ACTION, detail))
        await self.refresh()
