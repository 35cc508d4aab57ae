"""The VANS-style mailbox: a receiver polls for its messages and confirms each one it has fetched.

GET /api/v1/mailbox?limit=N[&ean=…] leases the oldest unconfirmed messages (FIFO) for
`delivery.mailbox_lease_seconds`; POST /api/v1/mailbox/{id}/ack is the *fetch confirmation*: the
receiver has the message, which makes it delivered. Unconfirmed messages come back after the lease.

The path says `ack` for history (and stays, it is public API); it is a transport-level fetch
confirmation, not a MedCom receipt: the receiver's receipt (XCTL03/XCTL02, a FHIR Acknowledgement) is a
message of its own, posted to /api/v1/messages. See docs/architecture.md, "Words".
"""

from __future__ import annotations

import base64

from aiohttp import web

from edigate.medcom.ean import INVALID_EAN, is_valid_ean
from edigate.store.states import DeliveryState
from edigate.web.auth import caller_of, unauthorized
from edigate.web.errors import error
from edigate.web.ingest import xml_text
from edigate.web.keys import DIRECTORY, SETTINGS, STORE
from edigate.web.messages_api import ID


async def fetch(request: web.Request) -> web.Response:
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    if caller.is_admin:
        return error(403, "en postkasse tilhører en partner: brug partnerens adgangsnøgle")
    try:
        limit = int(request.query.get("limit", "10"))
        if not 1 <= limit <= 500:
            raise ValueError
    except ValueError:
        return error(400, "limit skal være et heltal fra 1 til 500")
    directory = request.app[DIRECTORY]
    wanted = request.query.get("ean")
    if wanted is not None and not is_valid_ean(wanted):  # never echoed: it may be a CPR
        return error(400, f"ean: {INVALID_EAN}")
    if wanted is not None and wanted not in caller.eans:
        return error(403, f"EAN {wanted} er ikke en af dine")
    eans = sorted([wanted] if wanted else caller.eans)
    eans = [e for e in eans if (p := directory.partner(e)) is not None and p.delivery.kind == "mailbox"]
    store = request.app[STORE]
    lease = request.app[SETTINGS].delivery.mailbox_lease_seconds
    out: list[dict[str, object]] = []
    for ean in eans:
        if len(out) >= limit:
            break
        for msg in await store.mailbox_fetch(ean, limit - len(out), lease):
            out.append(
                {
                    "id": msg.id,
                    "envelope_id": msg.envelope_id,
                    "sender": msg.sender_ean,
                    "receiver": msg.receiver_ean,
                    "type": msg.type,
                    "xml": xml_text(msg.body),
                    "xml_base64": base64.b64encode(msg.body).decode("ascii"),
                    "content_type": msg.content_type,  # FHIR JSON's text is in "xml" too (a historic name)
                }
            )
    return web.json_response({"messages": out, "lease_seconds": lease})


async def confirm_fetched(request: web.Request) -> web.Response:
    """POST /api/v1/mailbox/{id}/ack: the fetch confirmation of one message."""
    caller = caller_of(request)
    if caller is None:
        return unauthorized()
    mid = int(request.match_info["id"])
    store = request.app[STORE]
    for ean in sorted(caller.eans):
        verdict = await store.mailbox_confirm_fetched(ean, mid)
        if verdict != "unknown":
            return web.json_response({"id": mid, "status": DeliveryState.DELIVERED, "already": verdict == "already"})
    return error(404, f"meddelelse {mid} findes ikke i din postkasse")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/mailbox", fetch)
    app.router.add_post(f"/api/v1/mailbox/{ID}/ack", confirm_fetched)  # the path's `ack`: see above
