"""A small partner directory and incident factory shared by the notify unit tests (no tests here)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from notify.model import ContactPerson, Incident, Organisation, Subscription

OUH = Organisation("5799999000119", "Odense Universitetshospital", "hospital", ("Fyn",), "edi@ouh.example")
SLB = Organisation("5799999000102", "Sygehus Lillebælt", "hospital", ("Lillebælt",), "edi@slb.example")
ODENSE = Organisation("5799999000201", "Odense Kommune", "municipality", ("Fyn",), "edi@odense.example")
ASSENS = Organisation("5799999000225", "Assens Kommune", "municipality", ("Fyn",), "edi@assens.example")
KOLDING = Organisation("5799999000232", "Kolding Kommune", "municipality", ("Lillebælt",), "edi@kolding.example")
VEJEN = Organisation(
    "5799999000249", "Vejen Kommune", "municipality", ("Lillebælt", "Sydvestjylland"), "edi@vejen.example"
)
NOMAIL = Organisation("5799999000256", "Ærø Kommune", "municipality", ("Fyn",), None)
REGION = Organisation("5799999000003", "Regional IT", "region", (), None)
ORGS = [OUH, SLB, ODENSE, ASSENS, KOLDING, VEJEN, NOMAIL, REGION]
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 local


def incident(**kw: Any) -> Incident:
    base: dict[str, Any] = dict(
        id=7,
        kind="acute",
        state="open",
        reporting_organisation=ODENSE.ean,
        role="eoj",
        reported_by="EOJ Odense",
        source="api",
        cause="EOJ nede",
        affected_messages=("XDIS17",),
        affected_organisations=(),
        start=T0,
        expected_end=T0.replace(hour=13),
        reported_at=T0,
        contact=ContactPerson("Hanne Hansen", "65 51 10 00", "hanne@odense.example"),
    )
    base.update(kw)
    return Incident(**base)


def subscription(id: int, email: str, state: str = "confirmed", **kw: Any) -> Subscription:
    base: dict[str, Any] = dict(
        id=id,
        email=email,
        organisations=(),
        clusters=(),
        message_types=(),
        state=state,
        confirm_token=f"c{id}",
        unsubscribe_token=f"u{id}",
        created_at=T0,
        created_by=email,
    )
    base.update(kw)
    return Subscription(**base)
