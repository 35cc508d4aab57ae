"""The Danish mails: subject, scope, time horizon, the next-status line, contact, links; HTML autoescaped."""

from __future__ import annotations

from datetime import UTC, datetime

from notify.compose import MailContext, notice_rows, notice_subject, receipt_rows
from notify.config import Contacts
from notify.model import Recipient
from notify.policy import plan
from notify.render import Renderer
from notify.service import FALLBACK_CATALOGUE
from tests.unit.notify.test_notify_world import ASSENS, ORGS, incident, subscription

CTX = MailContext("https://edi.rsyd.example", {o.ean: o for o in ORGS}, dict(FALLBACK_CATALOGUE))
R = Renderer()
NEXT = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)  # 12:00 local


def render(kind: str = "first", **kw):  # type: ignore[no-untyped-def]
    inc = incident(**kw)
    subs = {1: subscription(1, "s@x.example")}
    return notice_rows(
        R,
        kind,
        inc,
        CTX,
        [Recipient("edi@odense.example", "liste"), Recipient("s@x.example", "abonnement:1", 1)],
        subs,
        None if kind in ("resolved", "combined") else NEXT,
        None,
    )


def test_first_notice_states_scope_horizon_next_status_and_contact() -> None:
    subject, rows = render()
    assert subject == "[EDI-nedbrud] EOJ nede – Odense Kommune"
    text = rows[0].body_text
    assert "Næste status: mandag 23. november 2026 kl. 12:00" in text
    assert "Forventet løst (tidshorisont): mandag 23. november 2026 kl. 14:00" in text
    assert "Udskrivningsadvis (XDIS17)" in text
    assert "Kontaktperson: Hanne Hansen, tlf. 65 51 10 00" in text
    assert "vagttelefonen (VisInfoSyd)" in text


def test_only_subscription_mails_carry_an_unsubscribe_link_for_that_subscription() -> None:
    _, (list_row, sub_row) = render()
    assert "unsubscribe" not in list_row.body_text and "unsubscribe" not in list_row.body_html
    assert "https://edi.rsyd.example/subscriptions/unsubscribe/u1" in sub_row.body_text
    assert 'href="https://edi.rsyd.example/subscriptions/unsubscribe/u1"' in sub_row.body_html


def test_html_is_autoescaped_and_text_is_not() -> None:
    _, rows = render(cause='Fejl <b>&</b> "nede"')
    assert "Fejl &lt;b&gt;&amp;&lt;/b&gt; &#34;nede&#34;" in rows[0].body_html
    assert "<b>" not in rows[0].body_html
    assert 'Årsag: Fejl <b>&</b> "nede"' in rows[0].body_text


def test_subjects_for_planned_update_and_resolved() -> None:
    many = incident(kind="planned", affected_organisations=tuple(o.ean for o in ORGS[:5]))
    assert notice_subject("first", many, CTX).startswith("[Planlagt nedlukning] EOJ nede – ")
    assert notice_subject("first", many, CTX).endswith(" m.fl.")
    assert notice_subject("update", incident(), CTX) == "[EDI-nedbrud] Opdatering: EOJ nede – Odense Kommune"
    assert notice_subject("resolved", incident(affected_organisations=(ASSENS.ean,)), CTX) == (
        "[Løst] Akut nedbrud: EOJ nede – Assens Kommune"
    )
    regional = incident(role="regional-it", reporting_organisation="5799999000003")
    assert notice_subject("first", regional, CTX) == "[EDI-nedbrud] EOJ nede – alle kommuner"


def test_resolved_notice_has_no_next_status() -> None:
    _, rows = render("resolved", state="resolved", resolved_at=datetime(2026, 11, 23, 10, 30, tzinfo=UTC))
    assert "Løst: mandag 23. november 2026 kl. 11:30" in rows[0].body_text
    assert "Næste status:" not in rows[0].body_text


def test_receipt_after_22_says_handled_at_0800_by_whom() -> None:
    late = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # 23:30 local
    inc = incident(reported_at=late, start=late, expected_end=late.replace(day=24, hour=8))
    p = plan(inc.kind, inc.reported_at, inc.expected_end, inc.start)
    subject, rows = receipt_rows(
        R,
        inc,
        CTX,
        p,
        in_window=False,
        overrun_at=late,
        threshold_text="2 timer",
        contacts=Contacts(edi_support_phone="24 90 87 31"),
        duty_address="edi-support@rsyd.example",
    )
    assert subject.startswith("[Kvittering] Akut nedbrud nr. 7 modtaget")
    text = rows[0].body_text
    assert "Håndteres: tirsdag 24. november 2026 kl. 08:00 af EDI-supporten." in text
    assert "håndteres derfor først kl. 08.00" in text
    assert "Der udsendes meddelelse til distributionslisterne tirsdag 24. november 2026 kl. 08:00" in text
    assert [r.address for r in rows] == ["hanne@odense.example", "edi-support@rsyd.example"]
