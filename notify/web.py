"""HTTP for the outage procedure: the form "EDI-nedbrud/nedlukning", incident pages, the JSON API,
subscriptions and the status page with its feeds. Server-rendered, works without JavaScript.

Forms are CSRF-protected (token bound to the session cookie); API calls use Bearer tokens. Bad input
gets a Danish message per field and stores nothing; a bad request is always 4xx, never 5xx.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from aiohttp import web

from notify import api_doc as api
from notify import policy, visinfosyd
from notify import session as sess
from notify.answers import JSON_HEADERS, SECURITY_HEADERS
from notify.answers import json_error as _json_error
from notify.compose import public_incident_url
from notify.directory_web import add_directory_routes
from notify.feeds import atom_updated, planned_ics
from notify.incidents import (
    FREE_TEXT_FIELDS,
    Actor,
    InvalidInput,
    InvalidTransition,
    allowed_roles,
    is_desk,
)
from notify.lists import distribution_lists
from notify.login_throttle import LoginThrottle, wait_text
from notify.model import LIST_NOTICE_KINDS, Incident
from notify.service import Forbidden, NotFound, NotifyService, PublicFacts
from notify.subscribe_guard import TooManyRequests

#: the labels the form shows beside its fields (the same table the CPR check names fields by)
FIELD_LABELS = FREE_TEXT_FIELDS

#: the answer to every unconfirmed request, new or repeated (one pending link per address at a time)
PENDING_TEXT = (
    "Adressen får en mail med et bekræftelseslink, medmindre den allerede har fået et link, "
    "som endnu ikke er brugt. Abonnementet er først aktivt, når du har bekræftet."
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = structlog.get_logger(logger_name="notify.web")  # shown as "logger", like the stdlib loggers
_SESSION_OPEN = "notify.session_open"  # request key: the cookie's logged-in session is open server-side


class Web:
    def __init__(self, service: NotifyService) -> None:
        self.s = service
        self.secure_cookie = service.settings.public_url.startswith("https://")
        self.login_throttle = LoginThrottle(
            max_failures=service.settings.login_max_failures,
            window=timedelta(minutes=service.settings.login_window_minutes),
            clock=service.clock,
            observer=service.login_observer,
        )
        #: the desk's page of dead letters, when the gateway wires one in (notify.dead_letters_web)
        self.dead_letters_page: str | None = None

    # ---- sessions
    def session(self, request: web.Request) -> sess.Session | None:
        """The cookie's session; a logged-in one only while it is open server-side (see `live_session`)."""
        session = sess.decode(self.s.session_secret, request.cookies.get(sess.COOKIE))
        if session is not None and session.logged_in and not request.get(_SESSION_OPEN, False):
            return None  # logged out (or never opened here): the cookie is worth nothing
        return session

    @web.middleware
    async def live_session(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Look up a logged-in cookie's session server-side once per request, before the handler runs."""
        session = sess.decode(self.s.session_secret, request.cookies.get(sess.COOKIE))
        if session is not None and session.logged_in:
            request[_SESSION_OPEN] = await self.s.login_sessions.is_open(session.sid)
        return await handler(request)

    def set_session(self, response: web.StreamResponse, session: sess.Session) -> None:
        response.set_cookie(
            sess.COOKIE,
            sess.encode(self.s.session_secret, session),
            httponly=True,
            samesite="Strict",
            secure=self.secure_cookie,
            path="/",
            max_age=sess.MAX_AGE_SECONDS,
        )

    def actor(self, session: sess.Session | None) -> Actor | None:
        if session is None or not session.logged_in:
            return None
        return Actor(session.name or "", session.is_admin, session.organisation, session.role)

    def page(self, request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
        """Render a page; makes sure the visitor has a session (for the CSRF token)."""
        session = self.session(request)
        fresh = session is None
        if session is None:
            session = sess.new_session()
        html = self.s.renderer.render(
            template,
            {
                "session": session,
                **self._visitor(session),
                "org_name": self.s.org_name,
                "now": self.s.clock(),
                **context,
            },
        )
        response = web.Response(
            text=html, content_type="text/html", charset="utf-8", status=status, headers=SECURITY_HEADERS
        )
        if fresh:
            self.set_session(response, session)
        return response

    def visitor(self, request: web.Request) -> dict[str, Any]:
        """What base.html needs for the logged-in part of the navigation, for a page rendered elsewhere in
        the site's layout: the gateway's `/routes` (wired by edigate/app.py). Every variable base.html uses
        comes from here, so such a page renders exactly like this module's own."""
        return self._visitor(self.session(request))

    def _visitor(self, session: sess.Session | None) -> dict[str, Any]:
        actor = self.actor(session)
        return {
            "actor": actor,
            "who": who_text(actor, self.s.org_name) if actor else "",
            "csrf": sess.csrf_token(self.s.session_secret, session) if session else "",
            "dead_letters_page": self.dead_letters_page,
        }

    def redirect(self, location: str) -> web.Response:
        return web.Response(status=303, headers={"Location": location, **SECURITY_HEADERS})

    async def form_data(self, request: web.Request) -> tuple[dict[str, Any], sess.Session]:
        """POSTed form fields (lists for repeated names); raises 403 unless the CSRF token matches."""
        form = await request.post()
        data: dict[str, Any] = {}
        for key in set(form.keys()):
            values = [v for v in form.getall(key) if isinstance(v, str)]
            data[key] = (
                values
                if key
                in (
                    "affected_messages",
                    "affected_organisations",
                    "organisations",
                    "clusters",
                    "message_types",
                )
                else (values[0] if values else "")
            )
        session = self.session(request)
        if session is None or not sess.csrf_ok(self.s.session_secret, session, data.get("csrf")):
            raise web.HTTPForbidden(
                text="Formularen er udløbet eller kommer ikke fra denne side (CSRF). Genindlæs siden og prøv igen.",
                headers=SECURITY_HEADERS,
            )
        return data, session

    def require_login(self, request: web.Request) -> Actor:
        actor = self.actor(self.session(request))
        if actor is None:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs)}", headers=SECURITY_HEADERS)
        return actor

    # ---- login
    async def login_get(self, request: web.Request) -> web.Response:
        return self.page(request, "web/login.html", {"error": None, "next": _safe_next(request.query.get("next"))})

    async def login_post(self, request: web.Request) -> web.Response:
        data, _ = await self.form_data(request)
        next_url = _safe_next(data.get("next"))
        # The TCP peer only: X-Forwarded-For is written by the client and would give a fresh count per try.
        client = request.remote or "unknown"
        retry_after = self.login_throttle.refuse_if_locked(client)
        if retry_after is not None:  # locked out: the key is not even looked at
            log.warning("notify_login_throttled", client=client, retry_after_seconds=retry_after)
            response = self.page(
                request, "web/login.html", {"error": wait_text(retry_after), "next": next_url}, status=429
            )
            response.headers["Retry-After"] = str(retry_after)
            return response
        actor = self.s.actor_for_token(str(data.get("token", "")).strip())
        if actor is None:
            if self.login_throttle.failed(client):
                log.warning(
                    "notify_login_locked_out",
                    client=client,
                    failures=self.login_throttle.max_failures,
                    window_minutes=self.s.settings.login_window_minutes,
                )
            return self.page(
                request,
                "web/login.html",
                {"error": "Ukendt adgangsnøgle. Kontakt EDI-support, hvis du mangler en.", "next": next_url},
                status=401,
            )
        self.login_throttle.succeeded(client)
        response = self.redirect(next_url)
        session = sess.new_session(
            name=actor.name, is_admin=actor.is_admin, organisation=actor.organisation, role=actor.role
        )
        await self.s.login_sessions.open(session.sid, sess.expires_at(session))
        self.set_session(response, session)
        return response

    async def logout(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            await self.form_data(request)
        session = sess.decode(self.s.session_secret, request.cookies.get(sess.COOKIE))
        if session is not None and session.logged_in:
            await self.s.login_sessions.close(session.sid)  # this cookie, and every copy of it, is dead now
        response = self.redirect("/login")
        self.set_session(response, sess.new_session())
        return response

    # ---- the form
    def form_context(self, actor: Actor, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
        own = actor.organisation
        orgs = sorted(self.s.organisations.values(), key=lambda o: (o.kind, o.name))
        return {
            "values": values,
            "errors": errors,
            "labels": FIELD_LABELS,
            "catalogue": sorted(self.s.catalogue.items()),
            "organisations": orgs,
            "reporting_choices": orgs if actor.is_admin else [o for o in orgs if o.ean == own],
            "role_choices": allowed_roles(actor),
            "hours": policy.hours_texts(self.s.rules),
        }

    async def form_get(self, request: web.Request) -> web.Response:
        actor = self.require_login(request)
        values = {
            "kind": "acute",
            "reporting_organisation": actor.organisation or "",
            "role": actor.role or "",
            "affected_messages": [],
            "affected_organisations": [],
        }
        return self.page(request, "web/form.html", self.form_context(actor, values, {}))

    async def form_post(self, request: web.Request) -> web.Response:
        actor = self.require_login(request)
        data, _ = await self.form_data(request)
        data.setdefault("affected_messages", [])
        data.setdefault("affected_organisations", [])
        try:
            incident = await self.s.file_incident(actor, data, source="form")
        except InvalidInput as exc:
            return self.page(request, "web/form.html", self.form_context(actor, data, exc.errors), status=422)
        return self.redirect(f"/incidents/{incident.id}")

    # ---- incident page
    async def worklist(self, request: web.Request) -> web.Response:
        """The desk's worklist (EDI support and on-call as admins, Regional IT)."""
        actor = self.require_login(request)
        if not is_desk(actor):
            raise web.HTTPForbidden(
                text="Arbejdslisten er for EDI-supporten, vagten og Regional IT.", headers=SECURITY_HEADERS
            )
        portal = []  # "i givne tilfælde … opslag på sundhed.dk": the desk's open posting tasks
        for task in await self.s.portal_tasks.list(open_only=True):
            incident = await self.s.storage.get_incident(task.incident_id)
            if incident is not None:
                portal.append((task, incident))
        return self.page(request, "web/worklist.html", {"work": await self.s.worklist(), "portal": portal})

    async def incident_get(self, request: web.Request) -> web.Response:
        if self.actor(self.session(request)) is None:
            # an old link, or one shared from the desk: the public page if there is one, else the login
            public = await self.public_incident_page(request)
            if public is not None:
                return public
        actor = self.require_login(request)
        incident_id = _int(request.match_info["id"])
        try:
            view = await self.s.view(incident_id)
        except NotFound:
            raise web.HTTPNotFound(text="Hændelsen findes ikke.", headers=SECURITY_HEADERS) from None
        if not (view.incident.confirmed or is_desk(actor)):
            raise web.HTTPNotFound(text="Hændelsen findes ikke.", headers=SECURITY_HEADERS)
        return self.page(
            request,
            "web/incident.html",
            {
                "view": view,
                "i": view.incident,
                "catalogue": self.s.catalogue,
                "errors": {},
                "may_act": actor.is_admin or actor.organisation == view.incident.reporting_organisation,
                "desk": is_desk(actor),
                "organisations": sorted(self.s.organisations.values(), key=lambda o: (o.kind, o.name)),
                "flash": request.query.get("ok"),
                **await self.portal_context(view.incident),
            },
        )

    async def portal_context(self, incident: Incident) -> dict[str, Any]:
        """The incident's sundhed.dk (VisInfoSyd) task and the text to post, for the desk's pages."""
        task = await self.s.portal_tasks.get(incident.id)
        return {"portal_task": task, "portal_text": await self.portal_text(incident) if task else ""}

    async def portal_text(self, incident: Incident) -> str:
        """What the desk posts on sundhed.dk: the public facts, in the words of the status page."""
        facts = await self.s.public_facts(incident)
        return self.s.renderer.render(
            "web/visinfosyd.txt",
            {
                "i": incident,
                "catalogue": self.s.catalogue,
                "org_name": self.s.org_name,
                "now": self.s.clock(),
                "next_status_at": facts.next_status_at if facts else None,
                "public_url": public_incident_url(self.s.settings.public_url, incident.id) if facts else "",
            },
        ).strip()

    async def portal_action(self, actor: Actor, incident_id: int, action: Any) -> None:
        incident = await self.s.storage.get_incident(incident_id)
        if incident is None:
            raise NotFound(incident_id)
        if action not in visinfosyd.ACTIONS:
            raise InvalidInput({"action": "Vælg en handling: request, done eller withdraw."})
        try:
            await visinfosyd.apply(self.s.portal_tasks, actor, incident, action, self.s.clock())
        except PermissionError as exc:
            raise Forbidden(str(exc)) from None

    async def incident_action(self, request: web.Request) -> web.Response:
        actor = self.require_login(request)
        incident_id = _int(request.match_info["id"])
        action = request.match_info["action"]
        data, _ = await self.form_data(request)
        try:
            if action == "update":
                await self.s.update_incident(actor, incident_id, data)
            elif action == "resolve":
                await self.s.resolve_incident(actor, incident_id, data)
            elif action == "confirm":
                await self.s.confirm_incident(actor, incident_id)
            elif action == "scope":
                data.setdefault("affected_organisations", [])  # every box unticked: nobody named
                await self.s.change_scope(actor, incident_id, data)
            elif action == "visinfosyd":
                await self.portal_action(actor, incident_id, data.get("action"))
            else:
                raise web.HTTPNotFound()
        except NotFound:
            raise web.HTTPNotFound(text="Hændelsen findes ikke.", headers=SECURITY_HEADERS) from None
        except Forbidden as exc:
            raise web.HTTPForbidden(text=str(exc), headers=SECURITY_HEADERS) from None
        except (InvalidInput, InvalidTransition) as exc:
            view = await self.s.view(incident_id)
            errors = exc.errors if isinstance(exc, InvalidInput) else {"state": str(exc)}
            return self.page(
                request,
                "web/incident.html",
                {
                    "view": view,
                    "i": view.incident,
                    "catalogue": self.s.catalogue,
                    "errors": errors,
                    "may_act": True,
                    "desk": is_desk(actor),
                    "organisations": sorted(self.s.organisations.values(), key=lambda o: (o.kind, o.name)),
                    "flash": None,
                    **await self.portal_context(view.incident),
                },
                status=422,
            )
        return self.redirect(f"/incidents/{incident_id}?ok={action}")

    # ---- JSON API
    def api_actor(self, request: web.Request) -> Actor:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        actor = self.s.actor_for_token(token)
        if actor is None:
            raise _json_error(
                401,
                "Manglende eller ukendt adgangsnøgle (Authorization: Bearer <nøgle>).",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return actor

    async def api_body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError):
            raise _json_error(400, "Forespørgslen er ikke gyldig JSON.") from None
        if not isinstance(body, dict):
            raise _json_error(400, "Forespørgslen skal være et JSON-objekt.")
        return body

    def incident_fields(self, incident: Incident) -> dict[str, Any]:
        """The members of `api.Incident` (also the start of `api.IncidentDetail`)."""
        plan = self.s.plan_for(incident)
        contact = incident.contact
        return {
            "id": incident.id,
            "kind": incident.kind,
            "state": incident.state,
            "reporting_organisation": incident.reporting_organisation,
            "reporting_organisation_name": self.s.org_name(incident.reporting_organisation),
            "role": incident.role,
            "cause": incident.cause,
            "affected_messages": list(incident.affected_messages),
            "affected_organisations": list(incident.affected_organisations),
            "start": _iso(incident.start),
            "expected_end": _iso(incident.expected_end),
            "reported_at": _iso(incident.reported_at),
            "resolved_at": _iso(incident.resolved_at),
            "last_update_at": _iso(incident.last_update_at),
            "contact": api.ContactOut(name=contact.name, phone=contact.phone, email=contact.email),
            "plan": api.Plan(
                notify=plan.notify,
                handled_at=_iso(plan.handled_at),
                handled_by=plan.handled_by,
                first_notice_at=_iso(plan.first_notice_at),
                downtime_minutes=plan.downtime_minutes,
            ),
            "url": f"{self.s.settings.public_url}/incidents/{incident.id}",
        }

    def incident_json(self, incident: Incident) -> api.Incident:
        return api.Incident.model_validate(self.incident_fields(incident))

    async def api_call(
        self, request: web.Request, fn: Callable[[], Awaitable[Incident]], status: int = 200
    ) -> web.Response:
        try:
            incident = await fn()
        except InvalidInput as exc:
            raise _json_error(
                422, "Indberetningen er ikke gemt: " + " ".join(exc.errors.values()), fields=exc.errors
            ) from None
        except InvalidTransition as exc:
            raise _json_error(409, str(exc)) from None
        except NotFound:
            raise _json_error(404, "Hændelsen findes ikke.") from None
        except Forbidden as exc:
            raise _json_error(403, str(exc)) from None
        headers = dict(JSON_HEADERS)
        if status == 201:
            headers["Location"] = f"/api/v1/incidents/{incident.id}"
        return _reply(self.incident_json(incident), status=status, headers=headers)

    async def api_create(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        body = await self.api_body(request)
        return await self.api_call(request, lambda: self.s.file_incident(actor, body, source="api"), 201)

    async def api_list(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        incidents = [i for i in await self.s.storage.list_incidents(limit=500) if i.confirmed or is_desk(actor)]
        return _reply(api.IncidentList(incidents=[self.incident_json(i) for i in incidents]))

    async def api_get(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        incident_id = _int(request.match_info["id"], api=True)
        try:
            view = await self.s.view(incident_id)
        except NotFound:
            raise _json_error(404, "Hændelsen findes ikke.") from None
        if not (view.incident.confirmed or is_desk(actor)):
            raise _json_error(404, "Hændelsen findes ikke.")
        detail = api.IncidentDetail(
            **self.incident_fields(view.incident),
            updates=[
                api.StatusUpdate(at=_iso(u.at), author=u.author, text=u.text, expected_end=_iso(u.expected_end))
                for u in view.updates
            ],
            notices=[
                api.Notice(
                    id=n.id,
                    kind=n.kind,
                    created_at=_iso(n.created_at),
                    subject=n.subject,
                    next_status_at=_iso(n.next_status_at),
                )
                for n in view.notices
            ],
            recipients=[
                api.Recipient(
                    notice_id=r.notice_id,
                    notice=r.notice_kind,
                    channel=r.channel,
                    address=r.address,
                    source=r.source,
                    status=r.status,
                    attempts=r.attempts,
                    error=r.last_error,
                    sent_at=_iso(r.sent_at),
                )
                for r in view.outbox
            ],
            errors=[
                api.DeliveryError(channel=r.channel, address=r.address, status=r.status, error=r.last_error)
                for r in view.errors
            ],
            audit=[api.AuditEntry(at=_iso(a.at), actor=a.actor, action=a.action, detail=a.detail) for a in view.audit],
        )
        return _reply(detail)

    async def api_action(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        incident_id = _int(request.match_info["id"], api=True)
        action = request.match_info["action"]
        if action == "confirm":
            return await self.api_call(request, lambda: self.s.confirm_incident(actor, incident_id))
        body = await self.api_body(request)
        if action == "updates":
            return await self.api_call(request, lambda: self.s.update_incident(actor, incident_id, body))
        if action == "scope":
            return await self.api_call(request, lambda: self.s.change_scope(actor, incident_id, body))
        return await self.api_call(request, lambda: self.s.resolve_incident(actor, incident_id, body))

    # ---- sundhed.dk (VisInfoSyd) tasks
    async def portal_json(self, task: visinfosyd.PortalTask) -> api.PortalTask:
        incident = await self.s.storage.get_incident(task.incident_id)
        return api.PortalTask(
            incident_id=task.incident_id,
            requested_at=_iso(task.requested_at),
            requested_by=task.requested_by,
            done_at=_iso(task.done_at),
            done_by=task.done_by,
            text=await self.portal_text(incident) if incident is not None else "",
        )

    async def api_portal_action(self, request: web.Request) -> web.Response:
        """`{"action": "request" | "done" | "withdraw"}`: the desk's sundhed.dk task of one incident."""
        actor = self.api_actor(request)
        incident_id = _int(request.match_info["id"], api=True)
        body = await self.api_body(request)
        try:
            await self.portal_action(actor, incident_id, body.get("action"))
        except InvalidInput as exc:
            raise _json_error(422, " ".join(exc.errors.values()), fields=exc.errors) from None
        except InvalidTransition as exc:
            raise _json_error(409, str(exc)) from None
        except NotFound:
            raise _json_error(404, "Hændelsen findes ikke.") from None
        except Forbidden as exc:
            raise _json_error(403, str(exc)) from None
        task = await self.s.portal_tasks.get(incident_id)
        return _reply(
            api.PortalTaskAnswer(incident_id=incident_id, task=await self.portal_json(task) if task else None)
        )

    async def api_portal_tasks(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        if not is_desk(actor):
            raise _json_error(403, "Kun EDI-support, vagten og Regional IT ser opgaverne til sundhed.dk.")
        tasks = await self.s.portal_tasks.list(open_only=request.query.get("open") == "1")
        return _reply(api.PortalTaskList(tasks=[await self.portal_json(t) for t in tasks]))

    async def portal_tasks_page(self, request: web.Request) -> web.Response:
        """The desk's list: sundhed.dk posts to make (with the text), then the ones done."""
        actor = self.require_login(request)
        if not is_desk(actor):
            raise web.HTTPForbidden(text="Kun for EDI-support, vagten og Regional IT.", headers=SECURITY_HEADERS)
        rows = []
        for task in await self.s.portal_tasks.list():
            incident = await self.s.storage.get_incident(task.incident_id)
            if incident is not None:
                rows.append((task, incident, await self.portal_text(incident)))
        return self.page(request, "web/visinfosyd.html", {"rows": rows})

    # ---- subscriptions
    async def api_subscribe(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        actor = self.api_actor(request) if header else None
        body = await self.api_body(request)
        try:
            result = await self.s.subscribe(body, actor=actor, client=_client(request))
        except TooManyRequests as exc:
            log.warning("notify_subscribe_throttled", client=_client(request), retry_after_seconds=exc.retry_after)
            raise _json_error(
                429, _too_many_text(exc.retry_after), headers={"Retry-After": str(exc.retry_after)}
            ) from None
        except InvalidInput as exc:
            raise _json_error(
                422, "Abonnementet er ikke oprettet: " + " ".join(exc.errors.values()), fields=exc.errors
            ) from None
        if result.state == "confirmed" and result.subscription is not None:
            created = api.SubscriptionCreated(
                id=result.subscription.id, email=result.email, state=result.state, besked="Abonnementet er oprettet."
            )
            return _reply(created, status=201)
        # The same answer for a new request and an ignored repeat: it must not tell which it was.
        return _reply(api.SubscriptionRequested(email=result.email, state="pending", besked=PENDING_TEXT), status=202)

    async def api_subscriptions(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        if not actor.is_admin:
            raise _json_error(403, "Kun administratorer kan se abonnementerne.")
        subs = await self.s.storage.list_subscriptions(include_removed=True)
        listed = [
            api.Subscription(
                id=s.id,
                email=s.email,
                state=s.state,
                organisations=list(s.organisations),
                clusters=list(s.clusters),
                message_types=list(s.message_types),
                created_at=_iso(s.created_at),
                created_by=s.created_by,
            )
            for s in subs
        ]
        return _reply(api.SubscriptionList(subscriptions=listed))

    async def api_unsubscribe_admin(self, request: web.Request) -> web.Response:
        actor = self.api_actor(request)
        try:
            sub = await self.s.remove_subscription(actor, _int(request.match_info["id"], api=True))
        except Forbidden as exc:
            raise _json_error(403, str(exc)) from None
        except NotFound:
            raise _json_error(404, "Abonnementet findes ikke.") from None
        return _reply(api.SubscriptionState(id=sub.id, state=sub.state))

    async def subscribe_get(self, request: web.Request) -> web.Response:
        return self.page(request, "web/subscribe.html", self.subscribe_context({}, {}))

    def subscribe_context(self, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
        return {
            "values": values,
            "errors": errors,
            "done": None,
            "organisations": sorted(self.s.organisations.values(), key=lambda o: (o.kind, o.name)),
            "clusters": sorted({c for o in self.s.organisations.values() for c in o.clusters}),
            "catalogue": sorted(self.s.catalogue.items()),
        }

    async def subscribe_post(self, request: web.Request) -> web.Response:
        data, session = await self.form_data(request)  # 403 without a valid CSRF token
        actor = self.actor(session)
        try:
            result = await self.s.subscribe(data, actor=actor, client=_client(request))
        except TooManyRequests as exc:
            log.warning("notify_subscribe_throttled", client=_client(request), retry_after_seconds=exc.retry_after)
            ctx = self.subscribe_context({}, {"email": _too_many_text(exc.retry_after)})
            response = self.page(request, "web/subscribe.html", ctx, status=429)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except InvalidInput as exc:
            return self.page(request, "web/subscribe.html", self.subscribe_context(data, exc.errors), status=422)
        ctx = self.subscribe_context({}, {})
        ctx["done"] = result
        return self.page(request, "web/subscribe.html", ctx)

    async def confirm_subscription(self, request: web.Request) -> web.Response:
        sub = await self.s.confirm_subscription(request.match_info["token"])
        if sub is None:
            return self.page(
                request,
                "web/message.html",
                {"title": "Ukendt link", "text": "Linket er ugyldigt, eller abonnementet er afmeldt."},
                status=404,
            )
        return self.page(
            request,
            "web/message.html",
            {
                "title": "Abonnementet er bekræftet",
                "text": f"{sub.email} får nu meddelelser om EDI-nedbrud ({self.s.subscription_scope(sub)}).",
            },
        )

    async def unsubscribe(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if request.method == "POST":
            sub = await self.s.unsubscribe(token)
        else:
            sub = await self.s.subscription_for_unsubscribe(token)
        if sub is None:
            return self.page(
                request,
                "web/message.html",
                {"title": "Ukendt link", "text": "Linket er ugyldigt."},
                status=404,
            )
        return self.page(
            request,
            "web/unsubscribe.html",
            {"sub": sub, "scope": self.s.subscription_scope(sub), "token": token},
        )

    async def admin_subscriptions(self, request: web.Request) -> web.Response:
        actor = self.require_login(request)
        if not actor.is_admin:
            raise web.HTTPForbidden(text="Kun for administratorer.", headers=SECURITY_HEADERS)
        if request.method == "POST":
            data, _ = await self.form_data(request)
            remove = data.get("remove")
            if remove:
                try:
                    await self.s.remove_subscription(actor, _int(str(remove)))
                except NotFound:
                    raise web.HTTPNotFound(headers=SECURITY_HEADERS) from None
            return self.redirect("/admin/subscriptions")
        subs = await self.s.storage.list_subscriptions(include_removed=True)
        audit = await self.s.storage.audit_for()
        return self.page(
            request,
            "web/admin_subscriptions.html",
            {
                "subs": subs,
                "scope": self.s.subscription_scope,
                "lists": distribution_lists(self.s.organisations.values()),
                "audit": [a for a in audit if a.subscription_id is not None][-100:],
            },
        )

    async def admin_outbox(self, request: web.Request) -> web.Response:
        """The EDI support desk's list of mails and webhooks that will not go out (a bad address, a refusal)."""
        actor = self.require_login(request)
        if not actor.is_admin:
            raise web.HTTPForbidden(text="Kun for administratorer.", headers=SECURITY_HEADERS)
        rows = await self.s.storage.failed_outbox(limit=200)
        return self.page(request, "web/admin_outbox.html", {"rows": rows})

    # ---- publishing
    async def status_lists(self) -> StatusLists:
        """The public incidents of the last 30 days (only what the procedure informs about)."""
        now = self.s.clock()
        facts: dict[int, PublicFacts] = {}
        incidents = []
        for i in await self.s.storage.list_incidents(since=now - timedelta(days=30)):
            public = await self.s.public_facts(i)
            if public is not None:
                facts[i.id] = public
                incidents.append(i)
        ongoing = [i for i in incidents if i.resolved_at is None and not (i.kind == "planned" and i.start > now)]
        planned = [i for i in incidents if i.resolved_at is None and i.kind == "planned" and i.start > now]
        recent = [i for i in incidents if i.resolved_at is not None]
        return StatusLists(ongoing, planned, recent, now, facts)

    async def status(self, request: web.Request) -> web.Response:
        lists = await self.status_lists()
        return self.page(
            request,
            "web/status.html",
            {
                "ongoing": lists.ongoing,
                "planned": lists.planned,
                "recent": lists.recent,
                "facts": lists.facts,
                "catalogue": self.s.catalogue,
            },
        )

    async def status_atom(self, request: web.Request) -> web.Response:
        lists = await self.status_lists()
        entries = sorted([*lists.ongoing, *lists.planned, *lists.recent], key=atom_updated, reverse=True)
        text = self.s.renderer.render(
            "web/status.atom",
            {
                "entries": entries,
                "facts": lists.facts,
                "updated": max((atom_updated(e) for e in entries), default=lists.now),
                "base": self.s.settings.public_url,
                "catalogue": self.s.catalogue,
                "org_name": self.s.org_name,
                "atom_updated": atom_updated,
                "iso": _iso,
            },
        )
        return web.Response(text=text, content_type="application/atom+xml", charset="utf-8", headers=JSON_HEADERS)

    async def status_ics(self, request: web.Request) -> web.Response:
        now = self.s.clock()
        incidents = [
            i for i in await self.s.storage.list_incidents(since=now - timedelta(days=30)) if await self.s.is_public(i)
        ]
        host = urlsplit(self.s.settings.public_url).hostname or "edigate"
        text = planned_ics(incidents, now=now, host=host, base_url=self.s.settings.public_url)
        return web.Response(
            body=text.encode("utf-8"),
            content_type="text/calendar",
            charset="utf-8",
            headers={**JSON_HEADERS, "Content-Disposition": 'inline; filename="planned.ics"'},
        )

    async def public_incident(self, request: web.Request) -> web.Response:
        """`/status/incidents/<id>`, the page "Se hændelsen" in list mails opens: public and read-only, no
        login. An incident that is not public (a draft, one closed before confirmation, one the procedure
        does not inform about) is 404, with the same answer as a number that does not exist."""
        public = await self.public_incident_page(request)
        if public is not None:
            return public
        return self.page(
            request,
            "web/message.html",
            {
                "title": "Hændelsen findes ikke",
                "text": "Der er ingen offentlig hændelse med dette nummer. Se driftsstatus for kendte EDI-nedbrud.",
            },
            status=404,
        )

    async def public_incident_page(self, request: web.Request) -> web.Response | None:
        """The public page of the incident in the path, or None if it is not public. It shows what the status
        page shows, plus the status texts the lists have already been sent (one typed at night is shown once
        it is mailed at 08:00); never the audit trail, the recipients or who typed what."""
        incident_id = _int(request.match_info["id"])
        incident = await self.s.storage.get_incident(incident_id)
        facts = None if incident is None else await self.s.public_facts(incident)
        if incident is None or facts is None:
            return None
        notices = [n for n in await self.s.storage.notices_for(incident_id) if n.kind in LIST_NOTICE_KINDS]
        told_until = max((n.created_at for n in notices), default=None)
        updates = [
            u for u in await self.s.storage.updates_for(incident_id) if told_until is not None and u.at <= told_until
        ]
        return self.page(
            request,
            "web/public_incident.html",
            {"i": incident, "facts": {incident.id: facts}, "updates": updates, "catalogue": self.s.catalogue},
        )

    async def contacts(self, request: web.Request) -> web.Response:
        return self.page(
            request,
            "web/contacts.html",
            {
                "contacts": self.s.settings.contacts,
                "settings": self.s.settings,
                "hours": policy.hours_texts(self.s.rules),  # the hours the policy uses, not a copy of them
            },
        )


@dataclass(frozen=True)
class StatusLists:
    ongoing: list[Incident]
    planned: list[Incident]
    recent: list[Incident]
    now: datetime
    facts: dict[int, PublicFacts]


def who_text(actor: Actor, org_name: Callable[[str], str]) -> str:
    """ "Logget ind som …": the reporter's name, then its organisation unless the name already says it.
    A dash, not brackets: names and organisation names carry their own "(demo)", "(FIKTIV EAN)"."""
    if not actor.organisation:
        return actor.name
    org = org_name(actor.organisation)
    bare = _TRAILING_NOTE.sub("", org)
    if bare and bare.casefold() in actor.name.casefold():
        return actor.name
    return f"{actor.name} – {org}"


_TRAILING_NOTE = re.compile(r"(?:\s*\([^()]*\))+\s*$")  # "Odense Kommune (FIKTIV EAN)" -> "Odense Kommune"


def _reply(body: api.Body, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """The one way notify's API answers with JSON: the body comes from its model (notify.api_doc)."""
    return web.json_response(body.as_json(), status=status, headers={**JSON_HEADERS, **(headers or {})})


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(UTC).isoformat()


MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits on PostgreSQL): a larger one exists nowhere


def _int(text: str, *, api: bool = False) -> int:
    """An id from the path or a form: plain ASCII digits up to MAX_ID, else 404 (never a database error)."""
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID:
        return int(text)
    if api:
        raise _json_error(404, "Hændelsen findes ikke.")
    raise web.HTTPNotFound(text="Findes ikke.", headers=SECURITY_HEADERS)


def _client(request: web.Request) -> str:
    """The TCP peer only, as for the login throttle: X-Forwarded-For is the client's own choice."""
    return request.remote or "unknown"


def _too_many_text(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return (
        "For mange anmodninger om abonnement fra din adresse. "
        f"Prøv igen om {minutes} {'minut' if minutes == 1 else 'minutter'}."
    )


#: where a login may send the browser on: a path of plain segments on this site, optionally with a plain
#: query (what `require_login` writes). No scheme, no host, no `//`, no backslash, no percent-escape or
#: control character in the path (browsers drop tabs and newlines, so `/\t/evil.example/` is `//evil…`).
SAFE_NEXT = re.compile(r"/(?:[A-Za-z0-9_.~-]+(?:/[A-Za-z0-9_.~-]+)*/?)?(?:\?[A-Za-z0-9_.~=&%+-]*)?")
DEFAULT_NEXT = "/incidents/new"


def _safe_next(value: Any) -> str:
    """Only same-site paths of the allow-listed shape: a login must never redirect to another site."""
    if isinstance(value, str) and len(value) <= 500 and SAFE_NEXT.fullmatch(value):
        return value
    return DEFAULT_NEXT


def add_routes(app: web.Application, service: NotifyService) -> Web:
    w = Web(service)
    app.middlewares.append(w.live_session)
    app.router.add_get("/login", w.login_get)
    app.router.add_post("/login", w.login_post)
    app.router.add_route("*", "/logout", w.logout)
    app.router.add_get("/incidents", w.worklist)
    app.router.add_get("/incidents/new", w.form_get)
    app.router.add_post("/incidents/new", w.form_post)
    app.router.add_get(r"/incidents/{id}", w.incident_get)
    app.router.add_post(r"/incidents/{id}/{action:update|resolve|confirm|scope|visinfosyd}", w.incident_action)
    app.router.add_post("/api/v1/incidents", w.api_create)
    app.router.add_get("/api/v1/incidents", w.api_list)
    app.router.add_get(r"/api/v1/incidents/{id}", w.api_get)
    app.router.add_post(r"/api/v1/incidents/{id}/{action:updates|resolve|confirm|scope}", w.api_action)
    app.router.add_post(r"/api/v1/incidents/{id}/visinfosyd", w.api_portal_action)
    app.router.add_get("/api/v1/visinfosyd", w.api_portal_tasks)
    app.router.add_get("/desk/visinfosyd", w.portal_tasks_page)
    app.router.add_post("/api/v1/subscriptions", w.api_subscribe)
    app.router.add_get("/api/v1/subscriptions", w.api_subscriptions)
    app.router.add_delete(r"/api/v1/subscriptions/{id}", w.api_unsubscribe_admin)
    app.router.add_get("/subscriptions/new", w.subscribe_get)
    app.router.add_post("/subscriptions/new", w.subscribe_post)
    app.router.add_get("/subscriptions/confirm/{token}", w.confirm_subscription)
    app.router.add_get("/api/v1/subscriptions/confirm/{token}", w.confirm_subscription)
    app.router.add_route("GET", "/subscriptions/unsubscribe/{token}", w.unsubscribe)
    app.router.add_route("POST", "/subscriptions/unsubscribe/{token}", w.unsubscribe)
    app.router.add_route("*", "/admin/subscriptions", w.admin_subscriptions)
    app.router.add_get("/admin/outbox", w.admin_outbox)
    app.router.add_get("/status", w.status)
    app.router.add_get("/status.atom", w.status_atom)
    app.router.add_get("/status/planned.ics", w.status_ics)
    app.router.add_get("/status/contacts", w.contacts)
    add_directory_routes(app, w)
    app.router.add_get(r"/status/incidents/{id}", w.public_incident)
    return w
