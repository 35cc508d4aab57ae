"""Issue 12 item 11: what a reviewer reads in every mail the procedure sends, rendered with realistic data.

Every mail template (notify/templates/mail/) and every subject from notify/compose.py, and the on-call alert
mails, in each of their variants: no doubled or lost spaces, no English leftovers, one word for degraded
("forstyrret"), "Meldt af" always followed by who, and no "Alle 1 ruter".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edigate.alerts import receipts_overdue_facts
from edigate.health import (
    CircuitState,
    EventKind,
    HealthEvent,
    HealthState,
    HealthThresholds,
    Reason,
    RouteSignals,
    assess,
)
from edigate.store.model import AckAlert
from notify.compose import (
    MailContext,
    confirm_row,
    notice_rows,
    planned_end_row,
    receipt_rows,
    reminder_row,
    reporter_resolved_rows,
)
from notify.config import Contacts
from notify.model import Incident, IncidentUpdate, NewOutboxRow, Recipient
from notify.policy import plan
from notify.render import TEMPLATES, Renderer
from notify.service import FALLBACK_CATALOGUE
from tests.harness.alert_mail import compose_alert, render_alert
from tests.unit.notify.test_notify_world import KOLDING, ODENSE, ORGS, OUH, SLB, incident, subscription

CTX = MailContext("https://edi.rsyd.example", {o.ean: o for o in ORGS}, dict(FALLBACK_CATALOGUE))
R = Renderer()
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 local
NEXT = T0 + timedelta(hours=2)
#: English words that slipped into Danish texts before (whole words, case-insensitive)
ENGLISH = (
    "receiver",
    "answered",
    "open",
    "closed",
    "half-open",
    "dead letters",
    "failed",
    "refused",
    "unsubscribe here",
    "the",
    "and",
    "was",
    "already",
    "none",
    "null",
    "true",
    "false",
)


def incidents() -> Iterator[tuple[str, Incident]]:
    yield "municipal acute", incident()
    yield (
        "planned, several",
        incident(
            kind="planned",
            cause="Opgradering af EOJ",
            affected_organisations=(ODENSE.ean, KOLDING.ean, SLB.ean, OUH.ean),
        ),
    )
    yield "regional it", incident(role="regional-it", reporting_organisation="", reported_by="Regional IT vagt")
    # edigate's own automatic incident: no reporting organisation, and in the worst case no stored reporter
    yield (
        "automatic",
        incident(
            reporting_organisation="",
            reported_by="",
            cause="Automatisk registreret af edigate: Kolding Kommune modtager ikke EDI-meddelelser.",
            affected_organisations=(KOLDING.ean, OUH.ean),
        ),
    )
    yield "resolved", incident(state="resolved", resolved_at=T0 + timedelta(hours=1))


def mails() -> Iterator[tuple[str, str, str]]:
    """(what, subject, text) of every mail variant."""
    subs = {1: subscription(1, "s@x.example")}
    recipients = [Recipient("edi@odense.example", "liste"), Recipient("s@x.example", "abonnement:1", 1)]
    update = IncidentUpdate(1, 7, T0 + timedelta(minutes=30), "Hanne", "Leverandøren arbejder på det", None)
    for name, inc in incidents():
        for kind in ("first", "update", "resolved", "combined"):
            for latest in (None, update):
                for now in (T0, T0 + timedelta(days=1)):  # the second: the estimate has passed
                    ended = kind in ("resolved", "combined")
                    inc2 = inc if not ended or inc.resolved_at else _resolved(inc)
                    _, rows = notice_rows(R, kind, inc2, CTX, recipients, subs, None if ended else NEXT, latest, now)
                    yield from _rows(f"{name}/{kind}", rows)
        yield from _rows(f"{name}/reminder", [reminder_row(R, inc, CTX, "vagt@rsyd.example", "on-call", NEXT)])
        yield from _rows(f"{name}/planned_end", [planned_end_row(R, inc, CTX, "edi@rsyd.example", "edi-support")])
        for contacts in (Contacts(), Contacts(edi_support_phone="65 41 00 00", on_call_phone="70 11 22 33")):
            for reported in (T0, T0.replace(hour=22)):  # inside and outside 08-22
                p = plan(inc.kind, reported, reported + timedelta(hours=4), start=reported)
                _, rows = receipt_rows(
                    R,
                    inc,
                    CTX,
                    p,
                    in_window=reported == T0,
                    overrun_at=NEXT,
                    threshold_text="2 timer",
                    contacts=contacts,
                    duty_address="edi@rsyd.example",
                )
                yield from _rows(f"{name}/receipt", rows)
        for told in (True, False):
            for closing in ("", "Genstartet af leverandøren"):
                _, rows = reporter_resolved_rows(
                    R,
                    _resolved(inc),
                    CTX,
                    [("hanne@odense.example", "indberetter")],
                    closing_text=closing,
                    lists_told=told,
                    threshold_text="2 timer",
                )
                yield from _rows(f"{name}/reporter_resolved", rows)
    _, row = confirm_row(R, subscription(2, "ny@x.example", state="pending"), CTX.public_url, "Kolding Kommune")
    yield from _rows("confirm", [row])


def _resolved(inc: Incident) -> Incident:
    return replace(inc, state="resolved", resolved_at=T0 + timedelta(hours=1))


def _rows(what: str, rows: list[NewOutboxRow]) -> Iterator[tuple[str, str, str]]:
    for row in rows:
        yield what, row.subject, row.body_text
        if row.body_html:
            yield what + " (html)", row.subject, _visible(row.body_html)


def _visible(html: str) -> str:
    """The HTML as a reader sees it: tags out, whitespace runs as the browser collapses them."""
    text = re.sub(r"<style.*?</style>|<head.*?</head>", " ", html, flags=re.S)
    text = re.sub(r"</?(a|strong|em|b|i|span|code)\b[^>]*>", "", text)  # inline: no space of its own
    text = re.sub(r"<[^>]+>", "\n", text)
    text = re.sub(r"&nbsp;|&#160;", " ", text)
    return "\n".join(re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip())


def alert_mails() -> Iterator[tuple[str, str, str]]:
    """Every alert kind (down, reminder, recovered, degraded, receipts overdue), text and HTML."""
    names = {OUH.ean: OUH.name, KOLDING.ean: KOLDING.name}
    reasons = (Reason("circuit", HealthState.DEGRADED, "x"),)
    recipients = {"edi-support": "edi@rsyd.example", "on-call": "vagt@rsyd.example"}
    for kind, routes, state in (
        (EventKind.RECEIVER_DOWN, ((OUH.ean, KOLDING.ean),), HealthState.DOWN),  # the only route in
        (EventKind.RECEIVER_DOWN, ((OUH.ean, KOLDING.ean), (SLB.ean, KOLDING.ean)), HealthState.DOWN),
        (EventKind.ROUTE_DOWN, ((OUH.ean, KOLDING.ean),), HealthState.DOWN),
        (EventKind.DEGRADED, ((OUH.ean, KOLDING.ean),), HealthState.DEGRADED),
        (EventKind.ROUTE_RECOVERED, ((OUH.ean, KOLDING.ean),), HealthState.OK),
        (EventKind.ROUTE_RECOVERED, ((OUH.ean, KOLDING.ean),), HealthState.DEGRADED),
        (EventKind.RECEIVER_RECOVERED, ((OUH.ean, KOLDING.ean), (SLB.ean, KOLDING.ean)), HealthState.OK),
    ):
        recovered = kind in (EventKind.ROUTE_RECOVERED, EventKind.RECEIVER_RECOVERED)
        event = HealthEvent(
            kind,
            T0 + timedelta(minutes=40),
            KOLDING.ean,
            routes,
            state,
            T0,
            3,
            T0,
            "modtageren svarede HTTP 503",
            ("XDIS17",),
            reasons,
            still_down=((SLB.ean, KOLDING.ean),) if kind is EventKind.RECEIVER_RECOVERED else (),
            duration=timedelta(minutes=40) if recovered else None,
        )
        for reminder in (False, True) if event.is_down else (False,):
            mail = compose_alert(
                event,
                now=T0 + timedelta(minutes=45),
                handled_by=lambda _: "edi-support",
                recipients=recipients,
                names=names,
                reminder=reminder,
                status_url="https://edi.rsyd.example/routes",
                incident_id=4,
            )
            what = f"alert {mail.kind} {kind}/{len(routes)}"
            yield what, mail.subject, mail.text
            yield what + " (html)", mail.subject, _visible(mail.html)
    for count in (1, 2):
        for facts in receipts_overdue_facts(
            [AckAlert(n, f"ENV{n}", OUH.ean, KOLDING.ean, "XDIS91", T0) for n in range(count)],
            now=T0 + timedelta(minutes=95),
            handler="on-call",
            to=["vagt@rsyd.example"],
            names=names,
            type_names=dict(FALLBACK_CATALOGUE),
            status_url="https://edi.rsyd.example/routes",
        ):
            mail = render_alert(facts)
            yield f"alert receipts/{count}", mail.subject, mail.text
            yield f"alert receipts/{count} (html)", mail.subject, _visible(mail.html)


ALL = list(mails()) + list(alert_mails())


@pytest.mark.parametrize(("what", "subject", "text"), ALL, ids=[f"{i}:{w}" for i, (w, _, _) in enumerate(ALL)])
def test_every_mail_reads_as_a_reviewer_expects(what: str, subject: str, text: str) -> None:
    assert subject == subject.strip() and "  " not in subject, subject
    assert not re.search(r"\s[,.:]|\(\s|\s\)|–\s*$|–\s+–", subject), subject
    for line in text.splitlines():
        body = re.sub(r"^([^:]{1,30}:) +", r"\1 ", line.strip())  # the alert's aligned "Siden:   …" column
        assert "  " not in body, (what, line)
        assert not re.search(r"\s[,.]|\(\s|\s\)|[a-zæøå],[^\s\d]", body), (what, line)
    words = (subject + "\n" + text).lower()
    for word in ENGLISH:
        assert not re.search(rf"(?<![\w/.-]){re.escape(word)}(?![\w/.-])", words), (what, word)
    assert "forringet" not in words, what
    assert "alle 1 ruter" not in words, what
    assert not re.search(r"meldt af\s*[(.,]|meldt af\s*$", words, flags=re.M), (what, text)
    assert words.count("årsag:") <= 1, (what, text)


def test_the_circuit_reason_is_danish() -> None:
    signals = RouteSignals(OUH.ean, KOLDING.ean, circuit=CircuitState.OPEN)
    _, reasons = assess(signals, T0, HealthThresholds())
    (circuit,) = [r for r in reasons if r.code == "circuit"]
    assert "open" not in circuit.text and "åben" in circuit.text


def test_templates_are_all_exercised() -> None:
    """A new mail template must be added here too, or the checks above would miss it."""
    names = {p.stem for p in (TEMPLATES / "mail").iterdir()}
    assert names == {
        "alert",
        "alert_receipts",
        "confirm",
        "notice",
        "planned_end",
        "receipt",
        "reminder",
        "reporter_resolved",
    }
    assert Path(TEMPLATES / "mail" / "notice.txt").exists()


def test_dashboard_is_danish() -> None:
    dashboard = (Path(__file__).resolve().parents[3] / "deploy/monitoring/grafana-dashboard.json").read_text()
    assert "Dead letters" not in dashboard and "forringet" not in dashboard
