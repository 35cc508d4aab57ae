"""Jinja2 environment for the procedure's Danish mails and pages.

HTML and Atom templates are autoescaped; plain-text mail templates (`*.txt`) are not (they are never
shown as HTML). Times are shown in local time (Europe/Copenhagen) the Danish way:
"23. november 2026 kl. 08:00".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from notify.addresses import printable
from notify.policy import MONTHS_DA as MONTHS

TEMPLATES = Path(__file__).resolve().parent / "templates"
WEEKDAYS = ("mandag", "tirsdag", "onsdag", "torsdag", "fredag", "lørdag", "søndag")
KIND_DA = {"acute": "Akut nedbrud", "planned": "Planlagt nedlukning"}
ROLE_DA = {"eoj": "Kommunens EOJ-systemansvarlige", "regional-it": "Regional IT"}
STATE_DA = {
    "draft": "Kladde (ikke bekræftet)",
    "open": "Igangværende",
    "resolved": "Løst",
    "closed": "Lukket før bekræftelse (intet udsendt)",
}
HANDLER_DA = {"edi-support": "EDI-supporten", "on-call": "drifts- og ledelsesvagten"}
NOTICE_DA = {
    "first": "Første meddelelse",
    "update": "Opdatering",
    "resolved": "Løst-meddelelse",
    "combined": "Samlet meddelelse (opstået og løst)",
    "reminder": "Påmindelse til vagten",
    "receipt": "Kvittering til indberetter",
    "reporter-resolved": "Løst-besked til indberetter",
    "confirm": "Bekræftelse af abonnement",
}
STATUS_DA = {"pending": "afventer", "sent": "sendt", "refused": "afvist", "failed": "fejlet"}


def duration_da(d: timedelta) -> str:
    """'13 min', '2 t 5 min', '3 døgn 4 t'."""
    minutes = max(0, int(d.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} t {minutes} min"
    return f"{hours // 24} døgn {hours % 24} t"


def org_text(party: Any) -> str:
    """An organisation as 'Kolding Kommune (5790000000227)', or its EAN alone when it has no name."""
    return f"{party.name} ({party.ean})" if party.name else str(party.ean)


def route_text(route: Any) -> str:
    return f"{org_text(route.sender)} → {org_text(route.receiver)}"


def message_type_text(seen: Any, first: str = "code") -> str:
    """A MedCom type as 'XDIS17 (Udskrivningsadvis)' (or, with first='name', 'Udskrivningsadvis (XDIS17)')."""
    if first == "name":
        return f"{seen.name or seen.code} ({seen.code})"
    return f"{seen.code} ({seen.name})" if seen.name else str(seen.code)


class Renderer:
    def __init__(self, timezone: str = "Europe/Copenhagen") -> None:
        self.zone = ZoneInfo(timezone)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html", "atom", "xml"), default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["dk"] = self.dk_datetime
        self.env.filters["dk_short"] = self.dk_short
        self.env.filters["local_input"] = self.local_input
        self.env.filters["printable"] = printable  # a stored address may hold control characters
        # the IT alert mails (alert_mail.py)
        self.env.filters["dk_kl"] = self.dk_kl
        self.env.filters["duration"] = duration_da
        self.env.filters["org"] = org_text
        self.env.filters["route"] = route_text
        self.env.filters["message_type"] = message_type_text
        self.env.globals.update(
            KIND_DA=KIND_DA,
            ROLE_DA=ROLE_DA,
            STATE_DA=STATE_DA,
            HANDLER_DA=HANDLER_DA,
            NOTICE_DA=NOTICE_DA,
            STATUS_DA=STATUS_DA,
        )

    def local(self, t: datetime) -> datetime:
        return t.astimezone(self.zone)

    def dk_datetime(self, t: datetime | None) -> str:
        """'mandag 23. november 2026 kl. 08:00'"""
        if t is None:
            return "–"
        lt = self.local(t)
        return f"{WEEKDAYS[lt.weekday()]} {lt.day}. {MONTHS[lt.month - 1]} {lt.year} kl. {lt:%H:%M}"

    def dk_short(self, t: datetime | None) -> str:
        if t is None:
            return "–"
        return f"{self.local(t):%d.%m.%Y %H:%M}"

    def dk_kl(self, t: datetime | None) -> str:
        """'23.11.2026 kl. 10:01' (the alert mails' compact form)."""
        return "–" if t is None else f"{self.local(t):%d.%m.%Y kl. %H:%M}"

    def local_input(self, t: datetime | None) -> str:
        """Value for an <input type=datetime-local> (local wall clock, minutes)."""
        return "" if t is None else f"{self.local(t):%Y-%m-%dT%H:%M}"

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(**context)
