"""The procedure's background task: asks `policy.decide` what is due for each running incident and does it.

It writes notices with their outbox rows (one transaction), reminds the person on duty when a promised
next status is overdue, and sleeps until the earliest `wake_at` (capped, and woken at once by any
incident change). Every notice has a unique dedupe key, so a restart or a second instance never records
the same notice twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from notify import policy
from notify.compose import MailContext, notice_rows, planned_end_row, reminder_row, webhook_payload
from notify.config import WEEKDAYS, NotifySettings, span
from notify.lists import choose_recipients, merge_recipients
from notify.model import LIST_NOTICE_KINDS, AuditEntry, Incident, NewOutboxRow, Notice, Recipient
from notify.render import Renderer
from notify.storage import NotifyStorage

log = logging.getLogger("notify.scheduler")
#: how often a non-leader looks again whether it has become the leader
FOLLOWER_POLL_SECONDS = 1.0


def facts_of(incident: Incident, notices: Sequence[Notice]) -> policy.IncidentFacts:
    return policy.IncidentFacts(
        kind=incident.kind,
        confirmed=incident.confirmed,
        reported_at=incident.reported_at,
        start=incident.start,
        expected_end=incident.expected_end,
        resolved_at=incident.resolved_at,
        last_update_at=incident.last_update_at,
        notices=tuple(
            policy.SentNotice(n.created_at, n.kind, n.next_status_at) for n in notices if n.kind in LIST_NOTICE_KINDS
        ),
        last_reminder_at=incident.last_reminder_at,
    )


def dedupe_key(incident: Incident, kind: str, promised_at: datetime | None = None) -> str:
    if kind in ("first", "combined"):
        return f"incident:{incident.id}:opening"
    if kind == "update":
        assert incident.last_update_at is not None
        return f"incident:{incident.id}:update:{incident.last_update_at.astimezone(UTC).isoformat()}"
    if kind == "reminder":
        assert promised_at is not None
        return f"incident:{incident.id}:reminder:{promised_at.astimezone(UTC).isoformat()}"
    return f"incident:{incident.id}:{kind}"


class Scheduler:
    def __init__(
        self,
        *,
        storage: NotifyStorage,
        settings: NotifySettings,
        rules: policy.ProcedureRules,
        renderer: Renderer,
        mail_context: MailContext,
        clock: Callable[[], datetime],
        on_outbox: Callable[[], None],
        is_leader: Callable[[], bool] | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.rules = rules
        self.renderer = renderer
        self.ctx = mail_context
        self.clock = clock
        self.on_outbox = on_outbox
        #: with two instances on one database only the leader records scheduled notices (never twice)
        self.is_leader = is_leader or (lambda: True)
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        me = asyncio.current_task()
        while True:
            if me is not None and me.cancelling():
                raise asyncio.CancelledError  # a cancel swallowed below (see OutboxSender.run)
            self.wake.clear()
            if not self.is_leader():
                with contextlib.suppress(TimeoutError):  # asyncio.timeout keeps a racing cancel (see outbox)
                    async with asyncio.timeout(FOLLOWER_POLL_SECONDS):
                        await self.wake.wait()
                continue
            try:
                wake_at = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed")
                wake_at = None
            cap = self.settings.scheduler_max_sleep_seconds
            delay = cap
            if wake_at is not None:
                delay = min(cap, max(0.0, (wake_at - self.clock()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.wake.wait()

    async def run_once(self) -> datetime | None:
        """Evaluate every running incident; returns the earliest wake time."""
        async with self._lock:
            wakes: list[datetime] = []
            for incident in await self.storage.active_incidents():
                try:
                    wake = await self._evaluate(incident)
                except Exception:  # one broken incident must not stop the others
                    log.exception("evaluating incident %s failed", incident.id)
                    continue
                if wake is not None:
                    wakes.append(wake)
            return min(wakes) if wakes else None

    async def _evaluate(self, incident: Incident) -> datetime | None:
        for _ in range(4):  # act, then look again: one pass may send a notice and find nothing more due
            notices = await self.storage.notices_for(incident.id)
            now = self.clock()
            decision = policy.decide(facts_of(incident, notices), now, self.rules)
            acted = False
            if decision.notice is not None:
                await self.send_notice(
                    incident, decision.notice, decision.notice_next_status_at, notices, now, decision.reason
                )
                acted = True
            if decision.remind_on_duty:
                await self.send_reminder(incident, notices, now)
                acted = True
            if not acted:
                if decision.wake_at is None and incident.state == "resolved":
                    await self.storage.set_settled(incident.id)
                planned_end = await self._planned_end(incident, notices, now)
                wakes = [w.astimezone(UTC) for w in (decision.wake_at, planned_end) if w is not None]
                return min(wakes) if wakes else None
            refreshed = await self.storage.get_incident(incident.id)
            if refreshed is None:
                return None
            incident = refreshed
        return None

    async def _previous_recipients(self, incident: Incident) -> list[Recipient]:
        """Everyone who got (or is getting) a list notice for this incident and has not unsubscribed."""
        removed = {s.id for s in await self.storage.list_subscriptions(include_removed=True) if s.state == "removed"}
        scope = set(incident.affected_organisations)
        out = []
        for row in await self.storage.outbox_for(incident.id):
            if row.channel != "mail" or row.notice_kind not in LIST_NOTICE_KINDS:
                continue
            if row.status in ("refused", "failed") or row.subscription_id in removed:
                continue
            if row.source.startswith("berørt:") and row.source[len("berørt:") :] not in scope:
                continue  # the desk narrowed the scope: the next notice follows it
            out.append(Recipient(row.address, row.source, row.subscription_id))
        return list(merge_recipients(out))

    async def send_notice(
        self,
        incident: Incident,
        kind: str,
        next_status_at: datetime | None,
        notices: Sequence[Notice],
        now: datetime,
        reason: str,
    ) -> Notice | None:
        subs = await self.storage.list_subscriptions()
        by_id = {s.id: s for s in subs}
        audit = []
        if kind == "resolved":
            recipients: Sequence[Recipient] = await self._previous_recipients(incident)
        else:
            selection = choose_recipients(incident, list(self.ctx.organisations.values()), subs)
            recipients = selection.recipients
            if kind == "update":
                recipients = merge_recipients(await self._previous_recipients(incident), recipients)
            if selection.without_mailbox:
                audit.append(
                    AuditEntry(
                        now,
                        "edigate",
                        "mangler-postkasse",
                        "Ingen funktionspostkasse for: " + ", ".join(selection.without_mailbox),
                        incident_id=incident.id,
                    )
                )
        updates = await self.storage.updates_for(incident.id)
        latest = updates[-1] if updates else None
        subject, rows = notice_rows(
            self.renderer, kind, incident, self.ctx, recipients, by_id, next_status_at, latest, now
        )
        text = rows[0].body_text if rows else ""
        payload = webhook_payload(kind, incident, self.ctx, subject, text, next_status_at)
        hooks = [NewOutboxRow("webhook", w.url, "webhook", subject, payload=payload) for w in self.settings.webhooks]
        audit.insert(
            0,
            AuditEntry(
                now,
                "edigate",
                f"meddelelse-{kind}",
                f"{subject} → {len(recipients)} modtagere: "
                + ", ".join(r.address for r in recipients)
                + (f"; næste status {self.renderer.dk_short(next_status_at)}" if next_status_at else "")
                + f" ({reason})",
                incident_id=incident.id,
            ),
        )
        notice = await self.storage.record_notice(
            incident_id=incident.id,
            kind=kind,
            dedupe_key=dedupe_key(incident, kind),
            created_at=now,
            subject=subject,
            next_status_at=next_status_at,
            rows=[*rows, *hooks],
            audit=audit,
            not_before=datetime.now(UTC),
        )
        if notice is not None:
            log.info("notice %s for incident %s to %d recipients", kind, incident.id, len(recipients))
            self.on_outbox()
        return notice

    async def _planned_end(self, incident: Incident, notices: Sequence[Notice], now: datetime) -> datetime | None:
        """A planned shutdown still open at its planned end: remind the person on duty once per planned end
        (the status page meanwhile says "forventet afsluttet, afventer bekræftelse"). Returns when to look
        again, or None."""
        if incident.kind != "planned" or incident.resolved_at is not None:
            return None
        end = incident.expected_end
        if now < end:
            return end
        key = f"incident:{incident.id}:planned-end:{end.astimezone(UTC).isoformat()}"
        if any(n.dedupe_key == key for n in notices):
            return None
        handler = policy.handled_by(now, self.rules)
        address = self.settings.edi_support_email if handler == "edi-support" else self.settings.on_call_email
        row = planned_end_row(self.renderer, incident, self.ctx, address, handler)
        notice = await self.storage.record_notice(
            incident_id=incident.id,
            kind="reminder",
            dedupe_key=key,
            created_at=now,
            subject=row.subject,
            next_status_at=None,
            rows=[row],
            audit=[
                AuditEntry(
                    now,
                    "edigate",
                    "påmindelse",
                    f"Planlagt afslutning {self.renderer.dk_short(end)} er passeret; påmindelse til {address}",
                    incident_id=incident.id,
                )
            ],
            not_before=datetime.now(UTC),
        )
        if notice is not None:
            self.on_outbox()
        return None

    async def send_reminder(self, incident: Incident, notices: Sequence[Notice], now: datetime) -> None:
        promised = next(
            (n.next_status_at for n in reversed(notices) if n.kind in LIST_NOTICE_KINDS and n.next_status_at),
            None,
        )
        if promised is None:
            return
        handler = policy.handled_by(now, self.rules)
        address = self.settings.edi_support_email if handler == "edi-support" else self.settings.on_call_email
        row = reminder_row(self.renderer, incident, self.ctx, address, handler, promised)
        audit = [
            AuditEntry(
                now,
                "edigate",
                "påmindelse",
                f"Næste status lovet {self.renderer.dk_short(promised)} er overskredet; påmindelse til {address}",
                incident_id=incident.id,
            )
        ]
        notice = await self.storage.record_notice(
            incident_id=incident.id,
            kind="reminder",
            dedupe_key=dedupe_key(incident, "reminder", promised),
            created_at=now,
            subject=row.subject,
            next_status_at=None,
            rows=[row],
            audit=audit,
            not_before=datetime.now(UTC),
        )
        await self.storage.set_reminded(incident.id, now, [])
        if notice is not None:
            self.on_outbox()


def rules_from(settings: NotifySettings) -> policy.ProcedureRules:
    kwargs: dict[str, object] = {}
    if settings.rules.notice_threshold_minutes is not None:
        kwargs["notice_threshold"] = timedelta(minutes=settings.rules.notice_threshold_minutes)
    if settings.rules.next_status_minutes is not None:
        kwargs["next_status_interval"] = timedelta(minutes=settings.rules.next_status_minutes)
    if settings.rules.notice_window is not None:
        kwargs["window_start"], kwargs["window_end"] = span(settings.rules.notice_window)
    if settings.rules.support_hours is not None:
        kwargs["support_hours"] = MappingProxyType(
            {WEEKDAYS.index(day): span(hours) for day, hours in settings.rules.support_hours.items()}
        )
    if settings.rules.closing_days is not None:
        kwargs["closing_days"] = frozenset(settings.rules.closing_days)
    return policy.ProcedureRules(**kwargs)  # type: ignore[arg-type]
