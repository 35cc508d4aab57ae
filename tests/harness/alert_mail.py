"""An alert mail as the running service writes it, without the service: the gateway's facts for a health
event (`edigate.alerts.alert_facts`) rendered by notify's templates (`notify.alert_mail.alert_rows`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edigate.alerts import AlertFacts, HandledBy, alert_facts
from edigate.health import HealthEvent
from notify.alert_mail import alert_rows
from notify.render import Renderer

PUBLIC_URL = "https://edi.rsyd.example"
RENDERER = Renderer()


@dataclass(frozen=True)
class AlertMail:
    to: tuple[str, ...]
    subject: str
    text: str
    html: str
    handled_by: str
    key: str
    kind: str


def render_alert(facts: AlertFacts, public_url: str = PUBLIC_URL) -> AlertMail:
    subject, rows = alert_rows(RENDERER, facts, public_url)
    assert [r.address for r in rows] == list(facts.to) and rows
    return AlertMail(
        facts.to, subject, rows[0].body_text, rows[0].body_html, facts.handled_by, facts.key, str(facts.kind)
    )


def compose_alert(
    event: HealthEvent,
    *,
    now: datetime,
    handled_by: HandledBy,
    recipients: Mapping[str, str | Sequence[str]],
    public_url: str = PUBLIC_URL,
    **options: Any,
) -> AlertMail:
    """The mail for one health event (`options`: see `alert_facts`)."""
    facts = alert_facts(event, now=now, handled_by=handled_by, recipients=recipients, **options)
    return render_alert(facts, public_url)
