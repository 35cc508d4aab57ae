"""The outage procedure's running system; `edigate.app` builds it, `notify.web` serves it.

`NotifyService` is what the web layer and the gateway's health monitor call: file, update, resolve and
confirm incidents, manage subscriptions. Decisions about *when* to notify are `notify.policy`'s; this
module stores facts, sends receipts and wakes the scheduler.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from notify import policy
from notify.addresses import InvalidAddress, danish_error, normalise_address
from notify.compose import MailContext, confirm_row, receipt_rows, reporter_resolved_rows
from notify.config import Contacts, NotifySettings
from notify.directory import Directory, DirectoryStore, MemoryDirectoryStore
from notify.incidents import (
    SUBSCRIPTION_FIELDS,
    SYSTEM,
    Actor,
    InvalidInput,
    check_can_confirm,
    check_can_resolve,
    check_can_update,
    is_desk,
    parse_codes,
    parse_incident,
    parse_resolve,
    parse_update,
    refuse_cpr,
    unknown_organisations,
)
from notify.lists import choose_recipients
from notify.model import (
    LIST_NOTICE_KINDS,
    AuditEntry,
    ContactPerson,
    Incident,
    IncidentUpdate,
    NewIncident,
    NewOutboxRow,
    Notice,
    Organisation,
    OutboxRow,
    Subscription,
)
from notify.outbox import OutboxSender
from notify.render import HANDLER_DA, KIND_DA, Renderer
from notify.scheduler import Scheduler, facts_of, rules_from
from notify.session import LoginSessions, MemoryLoginSessions
from notify.storage import NotifyStorage
from notify.subscribe_guard import GuardSettings, SubscribeGuard
from notify.visinfosyd import MemoryPortalTasks, PortalTasks

log = logging.getLogger("notify")

#: how long stop() waits for its loops to end
STOP_SECONDS = 10.0

# Used only when the app hands in no catalogue (notify must not import edigate.medcom).
FALLBACK_CATALOGUE: tuple[tuple[str, str], ...] = (
    ("XDIS20", "Indlæggelsesadvis"),
    ("XDIS17", "Udskrivningsadvis"),
    ("XDIS14", "Indlæggelsessvar"),
    ("XDIS91", "Korrespondancemeddelelse"),
    ("XDIS90", "Administrativ korrespondance"),
    ("XDIS01", "Udskrivningsepikrise"),
    ("XREF01", "Sygehushenvisning"),
    ("XDIS16", "Indlæggelsesrapport"),
    ("XDIS18", "Udskrivningsrapport"),
    ("XDIS19", "Melding om færdigbehandling"),
    ("XDIS21", "Plejeforløbsplan"),
    ("GGOP", "Genoptræningsplan"),
)


class NotFound(LookupError):
    pass


class Forbidden(PermissionError):
    pass


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    plan: policy.Plan
    updates: list[IncidentUpdate]
    notices: list[Notice]
    outbox: list[OutboxRow]
    audit: list[AuditEntry]

    @property
    def errors(self) -> list[OutboxRow]:
        """Visible errors: refused or failed rows, and pending rows whose last attempt failed."""
        return [r for r in self.outbox if r.status in ("refused", "failed") or (r.status == "pending" and r.last_error)]


@dataclass(frozen=True)
class PublicFacts:
    """The procedure's promises as the public sees them: "oplysning om, hvornår næste status udsendes"."""

    next_status_at: datetime | None  # None once resolved
    awaiting_confirmation: bool  # a planned shutdown past its planned end, not yet confirmed finished
    estimate_passed: bool  # an acute outage past its expected end: the end is unknown until re-estimated


@dataclass(frozen=True)
class WorkItem:
    incident: Incident
    next_status_at: datetime | None  # the next status promised to the lists, None before the first notice
    overdue: bool  # that promise has passed without an update
    handled_at: datetime  # when the report is (was) handled: 08:00 for one filed after 22:00
    lists_told: bool  # a list notice went out


@dataclass(frozen=True)
class Worklist:
    drafts: list[WorkItem]
    deferred: list[WorkItem]
    open: list[WorkItem]
    ended: list[WorkItem]


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def _threshold_text(rules: policy.ProcedureRules) -> str:
    return policy.threshold_text(rules)


@dataclass(frozen=True)
class SubscribeResult:
    """What a subscription request answers: the same for a new pending subscription and an ignored repeat
    (`subscription` None), so the answer never tells whether the address was known."""

    email: str
    state: str
    subscription: Subscription | None


class NotifyService:
    def __init__(
        self,
        *,
        settings: NotifySettings,
        storage: NotifyStorage,
        clock: Callable[[], datetime],
        organisations: Sequence[Organisation],
        admin_token_hashes: frozenset[str] = frozenset(),
        message_types: Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]] | None = None,
        is_leader: Callable[[], bool] | None = None,
        login_observer: Callable[[str], None] | None = None,
        login_sessions: LoginSessions | None = None,
        portal_tasks: PortalTasks | None = None,
        directory_store: DirectoryStore | None = None,
    ) -> None:
        self.settings = settings
        #: the desk's sundhed.dk (VisInfoSyd) tasks
        self.portal_tasks: PortalTasks = portal_tasks or MemoryPortalTasks()
        #: open logged-in sessions (server-side), so a logout ends a session even for a copied cookie
        self.login_sessions: LoginSessions = login_sessions or MemoryLoginSessions()
        self.storage = storage
        self.clock = clock
        self.rules = rules_from(settings)
        self.zone = ZoneInfo(self.rules.timezone)
        self.organisations: dict[str, Organisation] = {o.ean: o for o in organisations}
        self.admin_token_hashes = frozenset(h.lower() for h in admin_token_hashes)
        types = message_types() if callable(message_types) else message_types
        self.catalogue: dict[str, str] = dict(types or FALLBACK_CATALOGUE)
        self.renderer = Renderer(self.rules.timezone)
        self.mail_context = MailContext(settings.public_url, self.organisations, self.catalogue)
        #: mailboxes, clusters and contacts as the desk edits them (the TOML is the seed); applied in place
        self.directory = Directory(directory_store or MemoryDirectoryStore(), self.organisations, settings.contacts)
        self.directory.on_contacts = self._contacts_changed
        #: two instances on one database: the scheduler and the outbox sender run only where this is True
        self.is_leader = is_leader or (lambda: True)
        #: hears the login throttle's events (`wrong_key`, `lockout`, `throttled`); edigate counts them
        self.login_observer = login_observer
        self.outbox = OutboxSender(storage, settings, clock, is_leader=self.is_leader)
        self.subscribe_guard = SubscribeGuard(
            GuardSettings(
                max_per_client=settings.subscribe_max_per_client,
                client_window=timedelta(minutes=settings.subscribe_client_window_minutes),
                max_per_address=settings.subscribe_max_per_address,
                address_window=timedelta(hours=settings.subscribe_address_window_hours),
            ),
            clock,
        )
        self.scheduler = Scheduler(
            is_leader=self.is_leader,
            storage=storage,
            settings=settings,
            rules=self.rules,
            renderer=self.renderer,
            mail_context=self.mail_context,
            clock=clock,
            on_outbox=self.outbox.poke,
        )
        secret = os.environ.get(settings.session_secret_env, "") if settings.session_secret_env else ""
        self.session_secret = secret.encode("utf-8") if secret else secrets.token_bytes(32)
        self._tasks: list[asyncio.Task[None]] = []

    # ---- lifecycle
    async def start(self) -> None:
        await self.directory.refresh_quietly()  # the desk's stored edits, before the first notice or page
        self._tasks = [
            asyncio.create_task(self.scheduler.run(), name="notify-scheduler"),
            asyncio.create_task(self.outbox.run(), name="notify-outbox"),
            asyncio.create_task(self.directory.run(), name="notify-directory"),
        ]

    async def stop(self) -> None:
        """Cancel the loops and wait for them, but never for ever: a shutdown must end (rows are leased, so
        whatever a loop left half done is picked up again by the next start)."""
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            done, stuck = await asyncio.wait(self._tasks, timeout=STOP_SECONDS)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("notify loop %s ended with %r", task.get_name(), task.exception())
            for task in stuck:
                log.error("notify loop %s did not stop within %s s", task.get_name(), STOP_SECONDS)
        self._tasks = []

    def changed(self) -> None:
        self.scheduler.poke()
        self.outbox.poke()

    # ---- who
    def actor_for_token(self, token: str) -> Actor | None:
        if not token:
            return None
        digest = _sha256(token)
        if digest in self.admin_token_hashes:
            return Actor("administrator", True)
        for r in self.settings.reporters:
            if digest in r.tokens_sha256:
                return Actor(r.name, False, r.organisation, r.role)
        return None

    def org_name(self, ean: str) -> str:
        return self.mail_context.org_name(ean)

    def _contacts_changed(self, contacts: Contacts) -> None:
        """The desk edited the contacts card: receipts and drafts use the new numbers from now on."""
        self.settings = self.settings.model_copy(update={"contacts": contacts})

    # ---- incidents
    async def _incident(self, incident_id: int) -> Incident:
        incident = await self.storage.get_incident(incident_id)
        if incident is None:
            raise NotFound(incident_id)
        return incident

    def _check_may_act(self, actor: Actor, incident: Incident) -> None:
        if not (actor.is_admin or actor.organisation == incident.reporting_organisation):
            raise Forbidden("Du kan kun ændre din egen organisations hændelser.")

    async def file_incident(self, actor: Actor, data: Mapping[str, Any], *, source: str) -> Incident:
        """Validate and store a report, then send the reporter's receipt. Raises InvalidInput."""
        new = parse_incident(
            data,
            actor=actor,
            organisations=self.organisations,
            catalogue=self.catalogue,
            now=self.clock(),
            zone=self.zone,
            source=source,
        )
        incident = await self.storage.create_incident(
            new,
            [
                AuditEntry(
                    new.reported_at,
                    actor.name,
                    "indberettet",
                    f"{KIND_DA[new.kind]} via {source}, forventet slut {self.renderer.dk_short(new.expected_end)}",
                )
            ],
        )
        await self._send_receipt(incident)
        self.changed()
        return incident

    async def _send_receipt(self, incident: Incident) -> None:
        plan = self.plan_for(incident)
        duty = self.settings.edi_support_email if plan.handled_by == "edi-support" else self.settings.on_call_email
        subject, rows = receipt_rows(
            self.renderer,
            incident,
            self.mail_context,
            plan,
            in_window=policy.in_window(incident.reported_at, self.rules),
            overrun_at=policy.overrun_at(incident.start, self.rules),
            threshold_text=_threshold_text(self.rules),
            contacts=self.settings.contacts,
            duty_address=duty,
            window_text=policy.window_text(self.rules),
            support_hours_text=policy.support_hours_text(self.rules),
        )
        await self.record_mail(
            incident_id=incident.id,
            kind="receipt",
            dedupe_key=f"incident:{incident.id}:receipt",
            subject=subject,
            rows=rows,
            action="kvittering",
            audit_text=f"Kvittering til {', '.join(r.address for r in rows)}: håndteres "
            f"{self.renderer.dk_short(plan.handled_at)} af {HANDLER_DA[plan.handled_by]}, "
            f"meddelelse: {'ja' if plan.notify else 'nej'}",
        )

    async def record_mail(
        self,
        *,
        incident_id: int | None,
        kind: str,
        dedupe_key: str,
        subject: str,
        rows: Sequence[NewOutboxRow],
        action: str,
        audit_text: str,
        at: datetime | None = None,
    ) -> bool:
        """A mail to named recipients outside the lists (receipt, reporter's resolved mail, IT alert): its
        notice and outbox rows and one audit line, committed together before anything is sent. False when a
        notice with `dedupe_key` exists (then nothing is written). `at` is the notice's time (default: now)."""
        created = at if at is not None else self.clock()
        notice = await self.storage.record_notice(
            incident_id=incident_id,
            kind=kind,
            dedupe_key=dedupe_key,
            created_at=created,
            subject=subject,
            next_status_at=None,
            rows=rows,
            audit=[AuditEntry(created, "edigate", action, audit_text, incident_id=incident_id)],
            not_before=datetime.now().astimezone(),  # the outbox's retry clock is the system clock
        )
        return notice is not None

    async def public_facts(self, incident: Incident) -> PublicFacts | None:
        """What the status page, the Atom feed and the public incident page show, or None if the incident
        is not public (see `is_public`)."""
        if not await self.is_public(incident):
            return None
        now = self.clock()
        notices = [n for n in await self.storage.notices_for(incident.id) if n.kind in LIST_NOTICE_KINDS]
        next_status = None
        if incident.resolved_at is None:
            promised = [n.next_status_at for n in notices if n.next_status_at is not None]
            first_due = policy.first_notice_due(facts_of(incident, []), self.rules)
            next_status = promised[-1] if promised else first_due
        open_ = incident.resolved_at is None
        return PublicFacts(
            next_status_at=next_status,
            awaiting_confirmation=open_ and incident.kind == "planned" and incident.expected_end <= now,
            estimate_passed=open_ and incident.kind == "acute" and incident.expected_end <= now,
        )

    async def worklist(self) -> Worklist:
        """The desk's worklist: drafts, reports deferred to 08:00, open incidents with their promised next
        status (overdue marked), and what ended in the last 7 days."""
        now = self.clock()
        rows: dict[str, list[WorkItem]] = {"drafts": [], "deferred": [], "open": [], "ended": []}
        for incident in await self.storage.list_incidents(since=now - timedelta(days=7)):
            notices = [n for n in await self.storage.notices_for(incident.id) if n.kind in LIST_NOTICE_KINDS]
            promised = [n.next_status_at for n in notices if n.next_status_at is not None]
            plan = self.plan_for(incident)
            next_status = promised[-1] if promised and incident.resolved_at is None else None
            item = WorkItem(
                incident=incident,
                next_status_at=next_status,
                overdue=next_status is not None and next_status <= now,
                handled_at=plan.handled_at,
                lists_told=bool(notices),
            )
            if incident.ended:
                rows["ended"].append(item)
            elif incident.state == "draft":
                rows["drafts"].append(item)
            elif plan.handled_at.astimezone(UTC) > now.astimezone(UTC):
                rows["deferred"].append(item)
            else:
                rows["open"].append(item)
        return Worklist(**rows)

    async def is_public(self, incident: Incident) -> bool:
        """May the status page, the Atom feed and the public incident page show it? Only what the procedure
        informs about: confirmed by a person, and either warranting a notice ("Ved nedetid >2 timer
        udsender EDI-supporten information") or already announced to the lists. A draft, a draft closed
        before confirmation and an incident under the 2-hour rule stay with the desk."""
        if not incident.confirmed:
            return False
        notices = await self.storage.notices_for(incident.id)
        if any(n.kind in LIST_NOTICE_KINDS for n in notices):
            return True
        if incident.resolved_at is not None:
            return False  # ended without a notice: the lists were never told, so the public is not either
        facts = facts_of(incident, notices)
        warranted = policy.first_notice_due(facts, self.rules)
        return warranted is not None and warranted.astimezone(UTC) <= self.clock().astimezone(UTC)

    def plan_for(self, incident: Incident) -> policy.Plan:
        return policy.plan(incident.kind, incident.reported_at, incident.expected_end, incident.start, self.rules)

    async def update_incident(self, actor: Actor, incident_id: int, data: Mapping[str, Any]) -> Incident:
        incident = await self._incident(incident_id)
        self._check_may_act(actor, incident)
        check_can_update(incident)
        update = parse_update(data, incident, self.zone)
        now = self.clock()
        detail = update.text + (
            f" (nyt forventet slut {self.renderer.dk_short(update.expected_end)})" if update.expected_end else ""
        )
        incident = await self.storage.add_update(
            incident_id,
            now,
            actor.name,
            update.text,
            update.expected_end,
            [AuditEntry(now, actor.name, "opdateret", detail)],
        )
        self.changed()
        return incident

    async def resolve_incident(self, actor: Actor, incident_id: int, data: Mapping[str, Any]) -> Incident:
        incident = await self._incident(incident_id)
        self._check_may_act(actor, incident)
        check_can_resolve(incident)
        text = parse_resolve(data)
        now = self.clock()
        incident = await self.storage.resolve_incident(
            incident_id, now, actor.name, text, [AuditEntry(now, actor.name, "løst", text)]
        )
        await self._tell_reporter_resolved(incident, text)
        self.changed()
        return incident

    async def _tell_reporter_resolved(self, incident: Incident, closing_text: str) -> None:
        """ "…melder forventet nedetid tilbage til den, der har meldt fejlen ind. Dette gentages, når
        problemet er løst": the contact person and the reporting organisation's functional mailbox get a
        resolved notice at once, also under the 2-hour rule. Nobody reported an automatic incident (edigate
        did) and a draft closed before confirmation was never reported: no mail then. An address that got
        the lists' notices gets the lists' resolved notice instead (never two mails)."""
        if not incident.confirmed or incident.source == "monitor":
            return
        listed = {
            r.address.lower()
            for r in await self.storage.outbox_for(incident.id)
            if r.channel == "mail" and r.notice_kind in LIST_NOTICE_KINDS
        }
        decision = policy.decide(
            facts_of(incident, await self.storage.notices_for(incident.id)), self.clock(), self.rules
        )
        if not listed and (decision.notice is not None or decision.wake_at is not None):
            # resolved after > 2 h before any notice: one combined notice goes to the lists (perhaps at
            # 08:00), and the reporter's own mailbox is on them
            subs = await self.storage.list_subscriptions()
            chosen = choose_recipients(incident, list(self.organisations.values()), subs)
            listed = {r.address.lower() for r in chosen.recipients}
        org = self.organisations.get(incident.reporting_organisation)
        candidates = [(incident.contact.email, "indberetter")]
        if org is not None and org.mailbox:
            candidates.append((org.mailbox, f"indberetter-organisation:{org.ean}"))
        addresses = list({a.lower(): (a, s) for a, s in reversed(candidates) if a.lower() not in listed}.values())
        addresses.reverse()
        if not addresses:
            return
        subject, rows = reporter_resolved_rows(
            self.renderer,
            incident,
            self.mail_context,
            addresses,
            closing_text=closing_text,
            lists_told=bool(listed),  # told already, or about to be
            threshold_text=_threshold_text(self.rules),
        )
        await self.record_mail(
            incident_id=incident.id,
            kind="reporter-resolved",
            dedupe_key=f"incident:{incident.id}:reporter-resolved",
            subject=subject,
            rows=rows,
            action="løst-til-indberetter",
            audit_text=f"Løst-besked til indberetteren: {', '.join(a for a, _ in addresses)}",
        )

    async def change_scope(self, actor: Actor, incident_id: int, data: Mapping[str, Any]) -> Incident:
        """The desk widens or narrows who an incident concerns ("Vurdering af problemets omfang"). Audited
        with before/after; on a confirmed incident it is also a status update, so the next notice goes out
        to the new scope (and no longer to organisations taken out of it)."""
        if not is_desk(actor):
            raise Forbidden("Kun EDI-supporten, vagten og Regional IT kan ændre en hændelses omfang.")
        incident = await self._incident(incident_id)
        check_can_update(incident)
        orgs = parse_codes(data, "affected_organisations")
        if orgs is None:
            raise InvalidInput({"affected_organisations": "Berørte organisationer skal være en liste af EAN-numre."})
        unknown = [o for o in orgs if o not in self.organisations]
        if unknown:
            raise InvalidInput({"affected_organisations": unknown_organisations(unknown)})
        before = list(incident.affected_organisations)
        added = [o for o in orgs if o not in before]
        removed = [o for o in before if o not in orgs]
        # kept ones first, in their order: an automatic incident's failed receiver stays first
        orgs = [o for o in before if o in orgs] + added
        if not added and not removed:
            return incident
        now = self.clock()
        names = self.org_name
        detail = "; ".join(
            part
            for part in (
                ("tilføjet: " + ", ".join(names(o) for o in added)) if added else "",
                ("fjernet: " + ", ".join(names(o) for o in removed)) if removed else "",
            )
            if part
        )
        audit = AuditEntry(
            now,
            actor.name,
            "omfang-ændret",
            f"Berørte organisationer {detail} (før: {', '.join(before) or '–'}; efter: {', '.join(orgs) or '–'})",
        )
        incident = await self.storage.set_scope(incident_id, orgs, [audit])
        if incident.confirmed:
            incident = await self.storage.add_update(
                incident_id, now, actor.name, f"Omfanget er ændret: {detail}.", None, []
            )
        self.changed()
        return incident

    async def confirm_incident(self, actor: Actor, incident_id: int) -> Incident:
        incident = await self._incident(incident_id)
        if not actor.is_admin:
            raise Forbidden("Kun administratorer kan bekræfte en automatisk registreret hændelse.")
        check_can_confirm(incident)
        now = self.clock()
        incident = await self.storage.confirm_incident(
            incident_id, [AuditEntry(now, actor.name, "bekræftet", "Kladden er bekræftet som hændelse")]
        )
        await self._send_receipt(incident)
        self.changed()
        return incident

    async def open_draft_incident(
        self,
        *,
        cause: str,
        affected_organisations: Sequence[str] = (),
        affected_messages: Sequence[str] = (),
        start: datetime | None = None,
        expected_end: datetime | None = None,
        reporting_organisation: str = "",
        contact: ContactPerson | None = None,
    ) -> Incident:
        """For the gateway's health monitor: an auto-detected outage as a draft. Nothing goes out until an
        admin confirms it (policy: unconfirmed -> nothing)."""
        now = self.clock()
        start = start or now
        new = NewIncident(
            kind="acute",
            state="draft",
            reporting_organisation=reporting_organisation or "",
            role="regional-it",
            reported_by="edigate (automatisk)",
            source="monitor",
            cause=cause,
            affected_messages=tuple(affected_messages),
            affected_organisations=tuple(affected_organisations),
            start=start,
            expected_end=expected_end or (start + self.rules.notice_threshold),
            reported_at=now,
            contact=contact
            or ContactPerson(
                "EDI-support",
                self.settings.contacts.edi_support_phone or "-",
                self.settings.edi_support_email,
            ),
        )
        incident = await self.storage.create_incident(
            new, [AuditEntry(now, "edigate", "kladde", f"Automatisk registreret: {cause}")]
        )
        self.changed()
        return incident

    async def resolve_auto_incident(self, incident_id: int, text: str = "Forbindelsen virker igen.") -> Incident | None:
        incident = await self.storage.get_incident(incident_id)
        if incident is None or incident.ended:
            return incident
        return await self.resolve_incident(SYSTEM, incident_id, {"text": text})

    async def view(self, incident_id: int) -> IncidentView:
        incident = await self._incident(incident_id)
        return IncidentView(
            incident=incident,
            plan=self.plan_for(incident),
            updates=await self.storage.updates_for(incident_id),
            notices=await self.storage.notices_for(incident_id),
            outbox=await self.storage.outbox_for(incident_id),
            audit=await self.storage.audit_for(incident_id=incident_id),
        )

    # ---- subscriptions
    def _subscription_input(self, data: Mapping[str, Any]) -> tuple[str, list[str], list[str], list[str]]:
        refuse_cpr(data, SUBSCRIPTION_FIELDS)
        errors: dict[str, str] = {}
        try:
            email = normalise_address(data.get("email"))
        except InvalidAddress as exc:
            email = ""
            errors["email"] = danish_error("E-mail", exc)
        orgs = parse_codes(data, "organisations")
        clusters = parse_codes(data, "clusters")
        types = parse_codes(data, "message_types")
        known_clusters = {c for o in self.organisations.values() for c in o.clusters}
        if orgs is None or any(o not in self.organisations for o in orgs):
            errors["organisations"] = "Ukendt organisation (EAN)."
        if clusters is None or any(c not in known_clusters for c in clusters):
            errors["clusters"] = "Ukendt sundhedsklynge."
        if types is None or any(t not in self.catalogue for t in types):
            errors["message_types"] = "Ukendt meddelelsestype."
        if errors:
            raise InvalidInput(errors)
        return email, orgs or [], clusters or [], types or []

    def subscription_scope(self, sub: Subscription) -> str:
        parts = []
        if sub.organisations:
            parts.append("organisationer: " + ", ".join(self.org_name(o) for o in sub.organisations))
        if sub.clusters:
            parts.append("sundhedsklynger: " + ", ".join(sub.clusters))
        if sub.message_types:
            parts.append("meddelelser: " + ", ".join(self.catalogue.get(t, t) for t in sub.message_types))
        return "; ".join(parts) or "alle EDI-nedbrud og planlagte nedlukninger"

    async def subscribe(
        self,
        data: Mapping[str, Any],
        *,
        actor: Actor | None = None,
        client: str = "unknown",
    ) -> SubscribeResult:
        """Double opt-in: a pending subscription and a confirm mail. An admin adds it confirmed at once.

        Anyone may ask, so the flood limits of `notify.subscribe_guard` apply: TooManyRequests for a
        client over its limit (unauthenticated requests that would send a mail; an invalid one is answered
        422 and costs nothing); a repeat for an address with a pending confirmation, or one over its mail
        limit, sends nothing and gets the same answer as a new one."""
        email, orgs, clusters, types = self._subscription_input(data)
        if actor is None:
            self.subscribe_guard.count_client(client)
        if actor is not None and actor.is_admin:
            sub = await self._create_subscription(email, orgs, clusters, types, actor)
            return SubscribeResult(email, sub.state, sub)
        async with self.subscribe_guard.lock:  # check and create as one step: no two requests pass together
            since = self.clock() - self.subscribe_guard.settings.address_window
            if await self.storage.pending_subscription(email, since=since) is not None:
                log.info("subscription_repeat_ignored (a confirmation is already pending for the address)")
                return SubscribeResult(email, "pending", None)
            if not self.subscribe_guard.may_mail(email):
                log.warning("subscription_address_limited (confirmation mails to one address over the limit)")
                return SubscribeResult(email, "pending", None)
            sub = await self._create_subscription(email, orgs, clusters, types, actor)
            self.subscribe_guard.mailed(email)
        return SubscribeResult(email, sub.state, sub)

    async def _create_subscription(
        self, email: str, orgs: list[str], clusters: list[str], types: list[str], actor: Actor | None
    ) -> Subscription:
        now = self.clock()
        confirmed = actor is not None and actor.is_admin
        who = actor.name if actor else email
        sub = await self.storage.create_subscription(
            email=email,
            organisations=orgs,
            clusters=clusters,
            message_types=types,
            confirm_token=secrets.token_urlsafe(24),
            unsubscribe_token=secrets.token_urlsafe(24),
            created_at=now,
            created_by=who,
            confirmed=confirmed,
            audit=[AuditEntry(now, who, "abonnement-oprettet" if confirmed else "abonnement-anmodet", email)],
        )
        if not confirmed:
            subject, row = confirm_row(self.renderer, sub, self.settings.public_url, self.subscription_scope(sub))
            await self.storage.record_notice(
                incident_id=None,
                kind="confirm",
                dedupe_key=f"subscription:{sub.id}:confirm",
                created_at=now,
                subject=subject,
                next_status_at=None,
                rows=[row],
                audit=[],
                not_before=datetime.now().astimezone(),
            )
            self.outbox.poke()
        return sub

    async def confirm_subscription(self, token: str) -> Subscription | None:
        sub = await self.storage.subscription_by_token(confirm_token=token)
        if sub is None or sub.state == "removed":
            return None
        if sub.state == "pending":
            now = self.clock()
            sub = await self.storage.confirm_subscription(
                sub.id, now, [AuditEntry(now, sub.email, "abonnement-bekræftet", sub.email)]
            )
        return sub

    async def subscription_for_unsubscribe(self, token: str) -> Subscription | None:
        return await self.storage.subscription_by_token(unsubscribe_token=token)

    async def unsubscribe(self, token: str) -> Subscription | None:
        """Removes only the one subscription the token belongs to."""
        sub = await self.storage.subscription_by_token(unsubscribe_token=token)
        if sub is None:
            return None
        if sub.state != "removed":
            now = self.clock()
            sub = await self.storage.remove_subscription(
                sub.id,
                now,
                [AuditEntry(now, sub.email, "abonnement-afmeldt", f"{sub.email} (via afmeldingslink)")],
            )
        return sub

    async def remove_subscription(self, actor: Actor, subscription_id: int) -> Subscription:
        if not actor.is_admin:
            raise Forbidden("Kun administratorer kan fjerne abonnementer.")
        sub = await self.storage.get_subscription(subscription_id)
        if sub is None:
            raise NotFound(subscription_id)
        now = self.clock()
        return await self.storage.remove_subscription(
            sub.id, now, [AuditEntry(now, actor.name, "abonnement-fjernet", sub.email)]
        )
