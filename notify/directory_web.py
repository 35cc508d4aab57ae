"""Pages and API for the directory the desk edits (admins): mailboxes, clusters, contacts. See
`notify.directory`. Forms use the site's CSRF tokens and security headers; the API uses Bearer tokens."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from notify import api_doc as api
from notify.answers import JSON_HEADERS, SECURITY_HEADERS
from notify.answers import json_error as _json_error
from notify.config import Contacts
from notify.directory import CONTACTS_KEY, ORG_PREFIX, contact_values
from notify.incidents import Actor, InvalidInput

if TYPE_CHECKING:
    from notify.web import Web


class DirectoryWeb:
    def __init__(self, w: Web) -> None:
        self.w = w
        self.s = w.s
        self.directory = w.s.directory

    # ---- helpers
    def admin(self, request: web.Request) -> Actor:

        actor = self.w.require_login(request)
        if not actor.is_admin:
            raise web.HTTPForbidden(text="Kun for administratorer.", headers=SECURITY_HEADERS)
        return actor

    def api_admin(self, request: web.Request) -> Actor:

        actor = self.w.api_actor(request)
        if not actor.is_admin:
            raise _json_error(403, "Kun administratorer kan rette kartoteket.")
        return actor

    def org_json(self, ean: str) -> api.DirectoryOrganisation:
        org = self.s.organisations[ean]
        o = self.directory.source(ORG_PREFIX + ean)
        return api.DirectoryOrganisation(
            ean=org.ean,
            name=org.name,
            kind=org.kind,
            mailbox=org.mailbox,
            clusters=list(org.clusters),
            changed_at=o.updated_at.isoformat() if o else None,
            changed_by=o.updated_by if o else None,
        )

    def history(self, entries: list[Any]) -> list[dict[str, Any]]:
        rows = []
        for a in entries:
            try:
                d = json.loads(a.detail)
            except ValueError:
                d = {"hvad": a.detail, "før": {}, "efter": {}}
            rows.append({"at": a.at, "actor": a.actor, **d})
        return rows

    # ---- pages
    async def overview(self, request: web.Request) -> web.Response:
        self.admin(request)
        orgs = sorted(self.s.organisations.values(), key=lambda o: (o.kind, o.name))
        return self.w.page(
            request,
            "web/admin_directory.html",
            {
                "orgs": orgs,
                "changed": {o.ean: self.directory.source(ORG_PREFIX + o.ean) for o in orgs},
                "contacts": self.directory.contacts,
                "contacts_changed": self.directory.source(CONTACTS_KEY),
                "history": self.history(await self.directory.store.history(100)),
                "flash": request.query.get("ok"),
            },
        )

    async def org_form(self, request: web.Request) -> web.Response:
        actor = self.admin(request)
        ean = request.match_info["ean"]
        org = self.s.organisations.get(ean)
        if org is None:
            raise web.HTTPNotFound(text="Organisationen findes ikke.", headers=SECURITY_HEADERS)
        values = {"mailbox": org.mailbox or "", "clusters": ", ".join(org.clusters)}
        if request.method == "POST":
            data, _ = await self.w.form_data(request)
            fields = {"mailbox": data.get("mailbox", ""), "clusters": data.get("clusters", "")}
            try:
                await self.directory.edit_organisation(ean, fields, actor.name, self.s.clock())
            except InvalidInput as exc:
                ctx = {"org": org, "values": fields, "errors": exc.errors}
                return self.w.page(request, "web/admin_directory_org.html", ctx, status=422)
            return self.w.redirect("/admin/directory?ok=1")
        return self.w.page(request, "web/admin_directory_org.html", {"org": org, "values": values, "errors": {}})

    async def contacts_form(self, request: web.Request) -> web.Response:
        actor = self.admin(request)
        c = self.directory.contacts
        values = {
            "edi_support_phone": c.edi_support_phone,
            "on_call_phone": c.on_call_phone,
            "edi_support_email": c.edi_support_email,
            "duty_phones": "\n".join(f"{k}: {v}" for k, v in sorted(c.duty_phones.items())),
        }
        if request.method == "POST":
            data, _ = await self.w.form_data(request)
            fields = {k: data.get(k, "") for k in values}
            try:
                await self.directory.edit_contacts(fields, actor.name, self.s.clock())
            except InvalidInput as exc:
                ctx = {"values": fields, "errors": exc.errors}
                return self.w.page(request, "web/admin_directory_contacts.html", ctx, status=422)
            return self.w.redirect("/admin/directory?ok=1")
        return self.w.page(request, "web/admin_directory_contacts.html", {"values": values, "errors": {}})

    # ---- API
    async def api_get(self, request: web.Request) -> web.Response:

        self.api_admin(request)
        body = api.Directory(
            organisations=[self.org_json(e) for e in sorted(self.s.organisations)],
            contacts=_contacts(self.directory.contacts),
            history=[
                api.DirectoryChange.model_validate({**h, "at": h["at"].isoformat()})
                for h in self.history(await self.directory.store.history(100))
            ],
        )
        return web.json_response(
            body.as_json(), headers=JSON_HEADERS, dumps=lambda o: json.dumps(o, ensure_ascii=False)
        )

    async def api_put_org(self, request: web.Request) -> web.Response:

        actor = self.api_admin(request)
        ean = request.match_info["ean"]
        body = await self.w.api_body(request)
        try:
            await self.directory.edit_organisation(ean, body, actor.name, self.s.clock())
        except KeyError:
            raise _json_error(404, "Organisationen findes ikke.") from None
        except InvalidInput as exc:
            raise _json_error(422, "Ikke gemt: " + " ".join(exc.errors.values()), fields=exc.errors) from None
        return web.json_response(self.org_json(ean).as_json(), headers=JSON_HEADERS)

    async def api_put_contacts(self, request: web.Request) -> web.Response:

        actor = self.api_admin(request)
        body = await self.w.api_body(request)
        try:
            contacts = await self.directory.edit_contacts(body, actor.name, self.s.clock())
        except InvalidInput as exc:
            raise _json_error(422, "Ikke gemt: " + " ".join(exc.errors.values()), fields=exc.errors) from None
        return web.json_response(_contacts(contacts).as_json(), headers=JSON_HEADERS)


def add_directory_routes(app: web.Application, w: Web) -> DirectoryWeb:
    d = DirectoryWeb(w)
    app.router.add_get("/admin/directory", d.overview)
    app.router.add_route("*", r"/admin/directory/organisations/{ean}", d.org_form)
    app.router.add_route("*", "/admin/directory/contacts", d.contacts_form)
    app.router.add_get("/api/v1/directory", d.api_get)
    app.router.add_put(r"/api/v1/directory/organisations/{ean}", d.api_put_org)
    app.router.add_put("/api/v1/directory/contacts", d.api_put_contacts)
    return d


def _contacts(contacts: Contacts) -> api.DirectoryContacts:
    return api.DirectoryContacts.model_validate(contact_values(contacts))
