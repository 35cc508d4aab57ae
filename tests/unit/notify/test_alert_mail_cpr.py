"""No CPR number in an IT alert mail, whatever the gateway hands over: every alert kind rendered (subject,
text, HTML) with a CPR in each free-text fact where one could sneak in: the receiver's refusal text (last
error), the reasons, a directory name, a message type's name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edigate.alerts import AlertFacts, AlertKind, alert_facts, receipts_overdue_facts
from edigate.health import EventKind, HealthEvent, HealthState, Reason
from edigate.store.model import AckAlert
from notify.cpr import contains_cpr
from tests.harness.alert_mail import render_alert

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OUH, SLB, KOLDING = "5790000000111", "5790000000128", "5790000000227"
#: one (fictitious) CPR, 150385-1234, in the ways people and systems write it
WRITTEN = ["150385-1234", "1503851234", "150385 1234", "15.03.85-1234", "15 03 85 1234", "15.03.85 1234"]
NAMES = {OUH: "Odense Universitetshospital 1503851234", KOLDING: "Kolding Kommune (pt. 150385-1234)"}
TYPE_NAMES = {"XDIS17": "Udskrivningsadvis for 15.03.85-1234", "XDIS91": "Korrespondance 150385 1234"}
REFUSAL = "HTTP 422: Patient 150385-1234 (CPR 1503851234, 15 03 85 1234) ukendt i EOJ"


def event(kind: EventKind, state: HealthState) -> HealthEvent:
    recovered = kind in (EventKind.ROUTE_RECOVERED, EventKind.RECEIVER_RECOVERED)
    whole = kind in (EventKind.RECEIVER_DOWN, EventKind.RECEIVER_RECOVERED)
    return HealthEvent(
        kind,
        T0 + timedelta(minutes=30),
        KOLDING,
        ((OUH, KOLDING), (SLB, KOLDING)) if whole else ((OUH, KOLDING),),
        state,
        T0,
        4,
        T0,
        REFUSAL,
        ("XDIS17", "XDIS91"),
        (Reason("refused", HealthState.DOWN, "Modtageren afviste: cpr 15.03.85 1234"),),
        still_down=((SLB, KOLDING),) if kind is EventKind.RECEIVER_RECOVERED else (),
        duration=timedelta(minutes=30) if recovered else None,
    )


def every_kind() -> list[tuple[str, AlertFacts]]:
    cases = []
    for kind, state, reminder in (
        (EventKind.ROUTE_DOWN, HealthState.DOWN, False),
        (EventKind.RECEIVER_DOWN, HealthState.DOWN, False),
        (EventKind.ROUTE_DOWN, HealthState.DOWN, True),
        (EventKind.DEGRADED, HealthState.DEGRADED, False),
        (EventKind.ROUTE_RECOVERED, HealthState.DEGRADED, False),
        (EventKind.RECEIVER_RECOVERED, HealthState.OK, False),
    ):
        facts = alert_facts(
            event(kind, state),
            now=T0 + timedelta(minutes=31),
            handled_by=lambda _: "on-call",
            recipients={"edi-support": "edi@rsyd.example", "on-call": "vagt@rsyd.example"},
            names=NAMES,
            type_names=TYPE_NAMES,
            reminder=reminder,
            incident_id=3,
            status_url="https://edi.rsyd.example/routes",
        )
        cases.append((f"{facts.kind}/{kind}", facts))
    ack = [AckAlert(n, f"ENV{n}", OUH, KOLDING, t, T0) for n, t in enumerate(("XDIS17", "XDIS91"))]
    (receipts,) = receipts_overdue_facts(
        ack,
        now=T0 + timedelta(minutes=95),
        handler="edi-support",
        to=["edi@rsyd.example"],
        names=NAMES,
        type_names=TYPE_NAMES,
    )
    cases.append(("receipts-overdue", receipts))
    return cases


CASES = every_kind()


def test_every_alert_kind_is_covered() -> None:
    assert {facts.kind for _, facts in CASES} == set(AlertKind)


@pytest.mark.parametrize(("what", "facts"), CASES, ids=[w for w, _ in CASES])
def test_no_written_form_of_the_cpr_is_in_the_mail(what: str, facts: AlertFacts) -> None:
    mail = render_alert(facts)
    for part, value in (("subject", mail.subject), ("text", mail.text), ("html", mail.html)):
        assert value, (what, part)
        for form in WRITTEN:
            assert form not in value, (what, part, form)
        assert not contains_cpr(value), (what, part, value)
    # the mail still says what it is about: the receiver's EAN and the marker where a CPR was
    assert KOLDING in mail.text and "[cpr]" in mail.text + mail.subject
