"""Compose the procedure's mails and webhook payloads (subject, plain text, HTML) from the templates.

Each recipient gets its own rendering so that a subscriber's mail carries the unsubscribe link of exactly
that subscription, and a list address never carries one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notify.model import Incident, IncidentUpdate, NewOutboxRow, Organisation, Recipient, Subscription
from notify.render import KIND_DA, Renderer

SUBJECT_PREFIX = {"acute": "[EDI-nedbrud]", "planned": "[Planlagt nedlukning]"}


def short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class MailContext:
    """What every incident mail needs besides the incident itself."""

    public_url: str
    organisations: Mapping[str, Organisation]
    catalogue: Mapping[str, str]

    def org_name(self, ean: str) -> str:
        org = self.organisations.get(ean)
        return org.name if org else ean

    def affected_names(self, incident: Incident) -> list[str]:
        eans = list(incident.affected_organisations)
        if not eans:
            if incident.role == "regional-it":
                return ["alle kommuner"]
            eans = [incident.reporting_organisation]
        return [self.org_name(e) for e in eans]

    def message_names(self, incident: Incident) -> list[str]:
        return [f"{self.catalogue.get(c, c)} ({c})" for c in incident.affected_messages]

    def incident_url(self, incident: Incident) -> str:
        """The desk's page (login): for mails to the people who handle or reported the incident."""
        return f"{self.public_url}/incidents/{incident.id}"

    def public_incident_url(self, incident: Incident) -> str:
        """The public, read-only page: for the lists, subscribers, feeds and portals, who have no login."""
        return public_incident_url(self.public_url, incident.id)


def public_incident_url(public_url: str, incident_id: int) -> str:
    return f"{public_url}/status/incidents/{incident_id}"


def notice_subject(kind: str, incident: Incident, ctx: MailContext) -> str:
    names = ctx.affected_names(incident)
    orgs = ", ".join(names[:3]) + (" m.fl." if len(names) > 3 else "")
    body = f"{short(incident.cause)} – {orgs}"
    if kind in ("resolved", "combined"):
        return f"[Løst] {KIND_DA[incident.kind]}: {body}"
    prefix = SUBJECT_PREFIX[incident.kind]
    return f"{prefix} Opdatering: {body}" if kind == "update" else f"{prefix} {body}"


def reporter_name(incident: Incident, ctx: MailContext) -> str:
    """Who "meldt af": the reporting organisation, else the person or system that filed it; never empty."""
    if incident.reporting_organisation:
        return ctx.org_name(incident.reporting_organisation)
    return incident.reported_by.strip() or "edigate (automatisk)"


def _base(incident: Incident, ctx: MailContext) -> dict[str, Any]:
    return {
        "incident": incident,
        # an auto-detected incident has no reporting organisation: edigate itself reported it
        "reporter_name": reporter_name(incident, ctx),
        "org_names": ctx.affected_names(incident),
        "message_names": ctx.message_names(incident),
        "incident_url": ctx.incident_url(incident),
        "status_url": f"{ctx.public_url}/status",
    }


def notice_rows(
    renderer: Renderer,
    kind: str,
    incident: Incident,
    ctx: MailContext,
    recipients: Sequence[Recipient],
    subscriptions: Mapping[int, Subscription],
    next_status_at: datetime | None,
    latest_update: IncidentUpdate | None,
    now: datetime | None = None,
) -> tuple[str, list[NewOutboxRow]]:
    subject = notice_subject(kind, incident, ctx)
    base = {
        **_base(incident, ctx),
        # an overrun notice must not state an end that has already passed as the expected end
        "estimate_passed": kind not in ("resolved", "combined")
        and incident.resolved_at is None
        and now is not None
        and incident.expected_end <= now,
        "kind": kind,
        "subject": subject,
        "next_status_at": next_status_at,
        "latest_update": latest_update,
        # "Se hændelsen" for recipients without a login (organisations' mailboxes, subscribers)
        "incident_url": ctx.public_incident_url(incident),
    }
    rows = []
    for r in recipients:
        sub = subscriptions.get(r.subscription_id) if r.subscription_id is not None else None
        unsubscribe = f"{ctx.public_url}/subscriptions/unsubscribe/{sub.unsubscribe_token}" if sub else None
        context = {**base, "unsubscribe_url": unsubscribe}
        rows.append(
            NewOutboxRow(
                channel="mail",
                address=r.address,
                source=r.source,
                subject=subject,
                body_text=renderer.render("mail/notice.txt", context),
                body_html=renderer.render("mail/notice.html", context),
                subscription_id=r.subscription_id,
            )
        )
    return subject, rows


def webhook_payload(
    kind: str, incident: Incident, ctx: MailContext, subject: str, text: str, next_status_at: datetime | None
) -> str:
    """The JSON an external portal (intranet CMS, VisInfoSyd) receives for each notice."""
    return json.dumps(
        {
            "notice": kind,
            "subject": subject,
            "text": text,
            "incident": {
                "id": incident.id,
                "kind": incident.kind,
                "state": incident.state,
                "cause": incident.cause,
                "reporting_organisation": incident.reporting_organisation,
                "affected_messages": list(incident.affected_messages),
                "affected_organisations": list(incident.affected_organisations),
                "start": incident.start.isoformat(),
                "expected_end": incident.expected_end.isoformat(),
                "resolved_at": incident.resolved_at.isoformat() if incident.resolved_at else None,
                "url": ctx.public_incident_url(incident),
            },
            "next_status_at": next_status_at.isoformat() if next_status_at else None,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def reminder_row(
    renderer: Renderer,
    incident: Incident,
    ctx: MailContext,
    address: str,
    handler: str,
    promised_at: datetime,
) -> NewOutboxRow:
    subject = f"[Påmindelse] Næste status er overskredet: hændelse nr. {incident.id} – {short(incident.cause, 50)}"
    context = {**_base(incident, ctx), "subject": subject, "handler": handler, "promised_at": promised_at}
    return NewOutboxRow(
        channel="mail",
        address=address,
        source=f"vagt:{handler}",
        subject=subject,
        body_text=renderer.render("mail/reminder.txt", context),
        body_html=renderer.render("mail/reminder.html", context),
    )


def planned_end_row(
    renderer: Renderer, incident: Incident, ctx: MailContext, address: str, handler: str
) -> NewOutboxRow:
    """A planned shutdown has reached its planned end unconfirmed: ask the person on duty to close it."""
    subject = f"[Påmindelse] Planlagt nedlukning nr. {incident.id} skulle være afsluttet – {short(incident.cause, 50)}"
    context = {**_base(incident, ctx), "subject": subject, "handler": handler}
    return NewOutboxRow(
        channel="mail",
        address=address,
        source=f"vagt:{handler}",
        subject=subject,
        body_text=renderer.render("mail/planned_end.txt", context),
    )


def receipt_rows(
    renderer: Renderer,
    incident: Incident,
    ctx: MailContext,
    plan: Any,
    *,
    in_window: bool,
    overrun_at: datetime,
    threshold_text: str,
    contacts: Any,
    duty_address: str,
    window_text: str = "08.00–22.00",
    support_hours_text: str = "man–tors 8.00–15.45, fre 8.00–14.00",
) -> tuple[str, list[NewOutboxRow]]:
    """The reporter's receipt, with a copy to the person on duty when the report is handled."""
    subject = f"[Kvittering] {KIND_DA[incident.kind]} nr. {incident.id} modtaget – {short(incident.cause, 50)}"
    context = {
        **_base(incident, ctx),
        "subject": subject,
        "plan": plan,
        "in_window": in_window,
        "overrun_at": overrun_at,
        "threshold_text": threshold_text,
        "contacts": contacts,
        "window_text": window_text,
        "support_hours_text": support_hours_text,
    }
    text = renderer.render("mail/receipt.txt", context)
    html = renderer.render("mail/receipt.html", context)
    rows = [NewOutboxRow("mail", incident.contact.email, "indberetter", subject, text, html)]
    if duty_address.lower() != incident.contact.email.lower():
        rows.append(NewOutboxRow("mail", duty_address, f"vagt:{plan.handled_by}", subject, text, html))
    return subject, rows


def reporter_resolved_rows(
    renderer: Renderer,
    incident: Incident,
    ctx: MailContext,
    addresses: Sequence[tuple[str, str]],
    *,
    closing_text: str,
    lists_told: bool,
    threshold_text: str,
) -> tuple[str, list[NewOutboxRow]]:
    """The procedure's "Dette gentages, når problemet er løst": the reporter hears that it is solved, to
    the contact person and the reporting organisation's functional mailbox, whatever the 2-hour rule says
    about the lists. `addresses` are (address, source) pairs."""
    subject = f"[Kvittering] Løst: indberetning nr. {incident.id} – {short(incident.cause, 50)}"
    context = {
        **_base(incident, ctx),
        "subject": subject,
        "closing_text": closing_text,
        "lists_told": lists_told,
        "threshold_text": threshold_text,
    }
    text = renderer.render("mail/reporter_resolved.txt", context)
    html = renderer.render("mail/reporter_resolved.html", context)
    return subject, [NewOutboxRow("mail", a, source, subject, text, html) for a, source in addresses]


def confirm_row(
    renderer: Renderer, subscription: Subscription, public_url: str, scope: str
) -> tuple[str, NewOutboxRow]:
    subject = "Bekræft dit abonnement på EDI-driftsmeddelelser"
    context = {
        "subject": subject,
        "subscription": subscription,
        "scope": scope,
        "confirm_url": f"{public_url}/subscriptions/confirm/{subscription.confirm_token}",
    }
    return subject, NewOutboxRow(
        "mail",
        subscription.email,
        f"abonnement:{subscription.id}",
        subject,
        renderer.render("mail/confirm.txt", context),
        renderer.render("mail/confirm.html", context),
        subscription_id=subscription.id,
    )
