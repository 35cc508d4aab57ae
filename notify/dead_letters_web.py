"""`/desk/dead-letters`: the desk's page of the messages edigate gave up delivering ("Opgivne meddelelser"),
with "Prøv igen" per message and "Prøv alle til … igen" per receiver.

For the people who run the procedure (EDI support and on-call as admins, Regional IT); others get a Danish
403. Every button is a POST form with the site's CSRF token; a re-queue is audited in the notify audit log
(who, when, which message) by the port (`notify.dead_letters.DeadLetterDesk`), and its answer is shown on the
page: done, or in plain Danish why not (already sent again or delivered, no such message, body purged).
Never a 500.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from notify.answers import SECURITY_HEADERS
from notify.dead_letters import DeadLetterDesk, InvalidCursor, RetryResult, retry_text
from notify.incidents import Actor, is_desk
from notify.web import Web

PATH = "/desk/dead-letters"
PAGE_SIZE = 50
FORBIDDEN = "Opgivne meddelelser er kun for EDI-support, vagten og Regional IT."
#: the HTTP status of each answer to "Prøv igen" (the page is shown with it)
RETRY_STATUS = {"queued": 200, "not_dead": 409, "purged": 409, "not_found": 404}
EAN_DIGITS = 13


class DeadLetterPages:
    def __init__(self, w: Web, desk: DeadLetterDesk) -> None:
        self.w = w
        self.desk = desk

    def require_desk(self, request: web.Request) -> Actor:
        actor = self.w.require_login(request)
        if not is_desk(actor):
            raise web.HTTPForbidden(text=FORBIDDEN, headers=SECURITY_HEADERS)
        return actor

    async def render(
        self, request: web.Request, *, flash: str = "", ok: bool = True, status: int = 200, cursor: str | None = None
    ) -> web.Response:
        try:
            page = await self.desk.list_dead_letters(cursor=cursor, limit=PAGE_SIZE)
        except InvalidCursor:
            return self.w.page(
                request,
                "web/message.html",
                {
                    "title": "Ukendt side",
                    "text": "Linket til næste side er ugyldigt. Begynd forfra på listen over opgivne meddelelser.",
                },
                status=400,
            )
        context: dict[str, Any] = {
            "page": page,
            "receivers": await self.desk.receivers(),
            "history": await self.desk.history(),
            "flash": flash,
            "flash_ok": ok,
            "first_page": cursor is None,
        }
        return self.w.page(request, "web/dead_letters.html", context, status=status)

    async def list_page(self, request: web.Request) -> web.Response:
        self.require_desk(request)
        return await self.render(request, cursor=request.query.get("efter") or None)

    async def retry(self, request: web.Request) -> web.Response:
        actor = self.require_desk(request)
        await self.w.form_data(request)  # 403 without the page's CSRF token
        text = request.match_info["id"]
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            return await self.render(request, flash="Meddelelsen findes ikke.", ok=False, status=404)
        mid = int(text)
        result: RetryResult = await self.desk.retry(mid, actor.name)
        return await self.render(
            request, flash=retry_text(result, mid), ok=result.outcome == "queued", status=RETRY_STATUS[result.outcome]
        )

    async def retry_receiver(self, request: web.Request) -> web.Response:
        actor = self.require_desk(request)
        data, _ = await self.w.form_data(request)
        receiver = str(data.get("receiver", ""))
        if not (receiver.isascii() and receiver.isdigit() and len(receiver) == EAN_DIGITS):
            return await self.render(request, flash="Vælg en modtager fra listen.", ok=False, status=422)
        name = self.w.s.org_name(receiver)
        letters = await self.desk.retry_receiver(receiver, actor.name)
        if not letters:
            text = f"Der er ingen opgivne meddelelser til {name} at sende igen (måske er de allerede sendt igen)."
            return await self.render(request, flash=text, ok=False, status=409)
        count = f"{len(letters)} meddelelse" + ("" if len(letters) == 1 else "r")
        text = f"{count} til {name} er lagt i kø igen med ny alder. De sendes, så snart modtageren svarer."
        return await self.render(request, flash=text)


def add_dead_letter_routes(app: web.Application, w: Web, desk: DeadLetterDesk) -> None:
    """The page and its two forms; the navigation shows its link from now on."""
    pages = DeadLetterPages(w, desk)
    w.dead_letters_page = PATH
    app.router.add_get(PATH, pages.list_page)
    app.router.add_post(PATH + r"/{id}/retry", pages.retry)
    app.router.add_post(PATH + "/retry-receiver", pages.retry_receiver)
