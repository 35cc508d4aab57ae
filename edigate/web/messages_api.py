"""GET /api/v1/messages[/{id}], POST /api/v1/messages/{id}/retry.

A sender sees its own messages, a receiver those addressed to it, an admin all. The body (which holds
the CPR) is only returned to an admin; metadata never carries the CPR. Ids are integers (the route
pattern), so anything else is a 404 before a handler runs.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from edigate.medcom.ean import INVALID_EAN, is_valid_ean
from edigate.routing import Caller
from edigate.store.messages import SearchFilter
from edigate.store.model import STATES
from edigate.web.apispec import EAN, ID18, Operation, path_param, query_param, register, reply
from edigate.web.auth import caller_of, unauthorized
from edigate.web.errors import error
from edigate.web.ingest import xml_text
from edigate.web.keys import STORE, WORKER
from edigate.web.responses import UNAUTHORIZED, MessageDetail, MessageList, Queued, error_doc, json_reply

ID = r"{id:[0-9]{1,18}}"


def visible(caller: Caller, row: dict[str, Any]) -> bool:
    return caller.is_admin or row["sender_ean"] in caller.eans or row["receiver_ean"] in caller.eans


async def get_message(request: web.Request) -> web.Response:
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    mid = int(request.match_info["id"])
    store = request.app[STORE]
    row = await store.get(mid)
    if row is None or not visible(caller, row):
        return error(404, f"meddelelse {mid} findes ikke blandt dine")
    fields = dict(row)
    if caller.is_admin:
        body = await store.body(mid) or b""
        fields["body"] = xml_text(body)
        fields["body_base64"] = base64.b64encode(body).decode("ascii")
    return json_reply(MessageDetail.model_validate(fields))


LIST_PARAMETERS = frozenset(
    {"limit", "since", "state", "envelope_id", "bundle_id", "message_header_id", "sender", "receiver", "cursor"}
)


async def list_messages(request: web.Request) -> web.Response:
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    q = request.query
    if unknown := set(q) - LIST_PARAMETERS:  # a misspelt filter must not silently list everything
        known = ", ".join(sorted(LIST_PARAMETERS))
        return error(400, f"ukendt parameter i forespørgslen ({len(unknown)}); kendte: {known}")
    try:
        limit = int(q.get("limit", "100"))
        if not 1 <= limit <= 1000:
            raise ValueError
    except ValueError:
        return error(400, "limit skal være et heltal fra 1 til 1000")
    since = None
    if "since" in q:  # present means meant: an empty or unreadable value is an error, not "no filter"
        try:
            since = datetime.fromisoformat(q["since"].replace("Z", "+00:00"))
        except ValueError:
            return error(400, "since skal være et tidspunkt efter ISO 8601, fx 2026-11-22T08:00:00Z")
        if since.tzinfo is None:
            return error(400, "since skal have en tidszone (Z eller +01:00)")
    for key in ("sender", "receiver"):
        if q.get(key) and not is_valid_ean(q[key]):  # never echoed: it may be a CPR typed into the field
            return error(400, f"{key}: {INVALID_EAN}")
    state = q.get("state")
    if state is not None and state not in STATES:
        return error(400, f"state skal være en af {', '.join(STATES)}")
    after = None
    if q.get("cursor"):
        after = read_cursor(q["cursor"])
        if after is None:
            return error(400, "cursor: skal være next_cursor fra en tidligere side, uændret")
    f = SearchFilter(
        envelope_id=q.get("envelope_id") or q.get("bundle_id") or None,
        letter_id=q.get("message_header_id") or None,
        sender=q.get("sender") or None,
        receiver=q.get("receiver") or None,
        state=state,
        since=since,
        limit=limit,
        visible_to=None if caller.is_admin else caller.eans,
        after=after,
    )
    rows = await request.app[STORE].search(f)
    page: dict[str, Any] = {"messages": rows, "count": len(rows)}  # validated as MessageMeta, in one pass
    if len(rows) == limit:  # maybe more: the next page starts after the last row of this one
        page["next_cursor"] = make_cursor(rows[-1]["created_at"], rows[-1]["id"])
    return json_reply(MessageList.model_validate(page))


def make_cursor(created_at: datetime, mid: int) -> str:
    """An opaque keyset cursor: the (created_at, id) of a page's last row."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{mid}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def read_cursor(text: str) -> tuple[datetime, int] | None:
    """The (created_at, id) in a cursor from make_cursor; None for anything else."""
    if len(text) > 100:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        at_text, _, id_text = raw.partition("|")
        at, mid = datetime.fromisoformat(at_text), int(id_text)
    except (ValueError, UnicodeDecodeError):
        return None
    if at.tzinfo is None or not 0 < mid < 2**63:
        return None
    return at, mid


async def retry_message(request: web.Request) -> web.Response:
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    mid = int(request.match_info["id"])
    store = request.app[STORE]
    row = await store.get(mid)
    if row is None or not visible(caller, row):
        return error(404, f"meddelelse {mid} findes ikke blandt dine")
    if not (caller.is_admin or row["sender_ean"] in caller.eans):
        return error(403, "kun afsenderen eller en administrator kan sende en meddelelse igen")
    if not await store.retry(mid):
        gone = "blev afvist, eller dens indhold er slettet efter opbevaringsperioden: den kan ikke leveres"
        return error(409, f"meddelelse {mid} {gone}")
    worker = request.app.get(WORKER)
    if worker is not None:
        worker.wake([row["receiver_ean"]])
    return json_reply(Queued(id=mid, status="queued"))


MID = path_param("id", ID18, "message id")
STATE_NAMES = list(STATES)

OPERATIONS = (
    Operation(
        "get",
        "/api/v1/messages",
        "listMessages",
        "Search messages (newest first): own for partners, all for an admin; no bodies",
        "messages",
        "bearer",
        {
            200: reply("Matching messages.", MessageList),
            400: error_doc("A bad query parameter (the reason names it)."),
            401: UNAUTHORIZED,
        },
        list_messages,
        parameters=(
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}, "page size"),
            query_param("since", {"type": "string", "format": "date-time"}, "created at or after (with offset)"),
            query_param("state", {"type": "string", "enum": STATE_NAMES}, "life state"),
            query_param("envelope_id", {"type": "string"}, "envelope id"),
            query_param("bundle_id", {"type": "string"}, "FHIR Bundle.id (the envelope id of a FHIR message)"),
            query_param("message_header_id", {"type": "string"}, "FHIR MessageHeader.id (or an OIOXML letter id)"),
            query_param("sender", {"anyOf": [EAN, {"const": ""}]}, "sender EAN (empty: no filter)"),
            query_param("receiver", {"anyOf": [EAN, {"const": ""}]}, "receiver EAN (empty: no filter)"),
            query_param(
                "cursor",
                {
                    "type": "string",
                    "maxLength": 100,
                    "x-server-rules": "exactly a next_cursor this server gave (an opaque keyset position)",
                },
                "next_cursor of the previous page (keyset pagination, newest first)",
            ),
        ),
    ),
    Operation(
        "get",
        "/api/v1/messages/{id}",
        "getMessage",
        "One message with letters and history; the body only for an admin",
        "messages",
        "bearer",
        {
            200: reply("The message.", MessageDetail),
            401: UNAUTHORIZED,
            404: error_doc("No such message visible to the caller."),
        },
        get_message,
        parameters=(MID,),
        pattern=f"/api/v1/messages/{ID}",
    ),
    Operation(
        "post",
        "/api/v1/messages/{id}/retry",
        "retryMessage",
        "Re-queue a message for delivery (its sender or an admin)",
        "messages",
        "bearer",
        {
            200: reply("Queued.", Queued),
            401: UNAUTHORIZED,
            403: error_doc("Only the sender or an admin may re-queue."),
            404: error_doc("No such message visible to the caller."),
            409: error_doc("A rejected message, or one whose body retention purged, is never delivered."),
        },
        retry_message,
        parameters=(MID,),
        pattern=f"/api/v1/messages/{ID}/retry",
    ),
)


def add_routes(app: web.Application) -> None:
    register(app, OPERATIONS)
