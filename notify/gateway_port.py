"""What the gateway may ask of the outage procedure, in plain terms: open a draft incident for a receiver,
find or resolve an automatically opened one, say who handles an alert now, queue an IT alert mail
through the procedure's one outbox (rendered from notify's own templates, `notify.alert_mail`), and read
that outbox's state for the gateway's gauges and for its alerts after a restart.

The gateway's route health loop (`edigate.monitor`) declares the same methods as its `OutageProcedure`
protocol; `edigate.app` hands it this class. Notify imports nothing of edigate, so every argument is a
plain value, or the gateway's alert facts read through the protocol `notify.alert_mail.AlertFacts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from notify import policy
from notify.alert_mail import ALERT_NOTICE_KIND, AlertFacts, alert_rows
from notify.incidents import SYSTEM
from notify.model import AlertMailKey, OutboxCounts
from notify.service import NotifyService

__all__ = ["GatewayPort"]

#: how many recent incidents are searched for one still open for a receiver
RECENT_INCIDENTS = 200


class GatewayPort:
    def __init__(self, service: NotifyService) -> None:
        self._service = service

    @property
    def public_url(self) -> str:
        return self._service.settings.public_url

    async def open_draft_incident(
        self,
        *,
        cause: str,
        organisations: Sequence[str],
        message_types: Sequence[str],
        start: datetime,
        confirm: bool,
    ) -> int:
        """A draft acute incident for `organisations` (the failed receiver first, then the senders on the
        affected routes); `confirm` confirms it at once (as the system, so its receipt and notices follow)."""
        incident = await self._service.open_draft_incident(
            cause=cause,
            affected_organisations=list(organisations),
            affected_messages=list(message_types),
            start=start,
        )
        if confirm:
            await self._service.confirm_incident(SYSTEM, incident.id)
        return int(incident.id)

    async def open_auto_incident_for(self, receiver: str) -> int | None:
        """An automatically opened incident for this receiver that has not ended (after a restart the
        gateway finds its own incident here instead of opening a second one)."""
        for incident in await self._service.storage.list_incidents(limit=RECENT_INCIDENTS):
            # the failed receiver comes first in an automatic incident's scope
            mine = incident.source == "monitor" and incident.affected_organisations[:1] == (receiver,)
            if mine and not incident.ended:
                return int(incident.id)
        return None

    async def widen_auto_incident(self, incident_id: int, organisations: Sequence[str]) -> None:
        """Add organisations to an automatic incident's scope (audited; the next notice follows it)."""
        incident = await self._service.storage.get_incident(incident_id)
        if incident is None or incident.ended or set(organisations) <= set(incident.affected_organisations):
            return
        wider = list(dict.fromkeys([*incident.affected_organisations, *organisations]))
        await self._service.change_scope(SYSTEM, incident_id, {"affected_organisations": wider})

    async def resolve_auto_incident(self, incident_id: int, note: str) -> str | None:
        """Resolve it (its resolved notice goes to whoever got notices); returns its state, None if unknown."""
        incident = await self._service.resolve_auto_incident(incident_id, note)
        return None if incident is None else str(incident.state)

    def handled_by(self, at: datetime) -> str:
        """`edi-support` inside EDI support hours, else `on-call` (the procedure's own schedule)."""
        return str(policy.handled_by(at, self._service.rules))

    async def queue_alert_mail(self, facts: AlertFacts) -> bool:
        """Render the alert mail from notify's templates and queue it through the one outbox: one row per
        address, committed before anything is sent; False when this mail (same kind, key and time) was
        queued before."""
        subject, rows = alert_rows(self._service.renderer, facts, self.public_url)
        kind = ALERT_NOTICE_KIND[facts.kind]
        queued = await self._service.record_mail(
            incident_id=facts.incident_id,
            kind=kind,
            dedupe_key=str(AlertMailKey(kind, facts.key, facts.at)),
            subject=subject,
            rows=rows,
            action="driftsalarm",
            audit_text=f"{subject} → {', '.join(facts.to)}",
            at=facts.at,
        )
        self._service.outbox.poke()
        return queued

    async def outbox_counts(self) -> OutboxCounts | None:
        """Mail rows pending and failed, failed rows by channel and notice kind, open incidents by kind;
        None when the procedure's tables cannot be read."""
        return await self._service.storage.outbox_counts()

    async def sent_mail_counts(self) -> dict[str, int] | None:
        """Mails sent so far, by notice kind (the gateway counts the growth); None when unreadable."""
        return await self._service.storage.sent_mail_counts()

    async def last_alerts(self, key: str) -> tuple[datetime | None, datetime | None]:
        """When the newest alert mail and the newest recovered mail for this alert key were queued
        (`queue_alert_mail` keys them so), (None, None) when never or unreadable."""
        return await self._service.storage.last_alerts(key)
