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
from edigate.web.apispec import EAN, Operation, query_param, register, reply
from edigate.web.auth import caller_of, unauthorized
from edigate.web.errors import error
from edigate.web.ingest import xml_text
from edigate.web.keys import DIRECTORY, SETTINGS, STORE
from edigate.web.messages_api import ID, MID
from edigate.web.responses import UNAUTHORIZED, MailboxAck, MailboxBatch, MailboxMessage, error_doc, json_reply


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
    out: list[MailboxMessage] = []
    for ean in eans:
        if len(out) >= limit:
            break
        for msg in await store.mailbox_fetch(ean, limit - len(out), lease):
            out.append(
                MailboxMessage(
                    id=msg.id,
                    envelope_id=msg.envelope_id,
                    sender=msg.sender_ean,
                    receiver=msg.receiver_ean,
                    type=msg.type,
                    xml=xml_text(msg.body),
                    xml_base64=base64.b64encode(msg.body).decode("ascii"),
                    content_type=msg.content_type,  # FHIR JSON's text is in "xml" too (a historic name)
                )
            )
    return json_reply(MailboxBatch(messages=out, lease_seconds=lease))


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
            return json_reply(MailboxAck(id=mid, status=DeliveryState.DELIVERED, already=verdict == "already"))
    return error(404, f"meddelelse {mid} findes ikke i din postkasse")


OPERATIONS = (
    Operation(
        "get",
        "/api/v1/mailbox",
        "pollMailbox",
        "Lease the oldest unconfirmed messages of the caller's mailbox (FIFO)",
        "mailbox",
        "bearer",
        {
            200: reply("Leased messages (may be empty).", MailboxBatch),
            400: error_doc("limit out of range, or an ean that is not a valid EAN/GLN (never echoed)."),
            401: UNAUTHORIZED,
            403: error_doc("An admin token, or an EAN that is not the caller's."),
        },
        fetch,
        parameters=(
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 10}, "at most"),
            query_param("ean", EAN, "only this one of the caller's EANs"),
        ),
    ),
    Operation(
        "post",
        "/api/v1/mailbox/{id}/ack",
        "ackMailboxMessage",
        "Confirm one fetched mailbox message (idempotent)",
        "mailbox",
        "bearer",
        {
            200: reply("Confirmed (`already` when it was before).", MailboxAck),
            401: UNAUTHORIZED,
            404: error_doc("No such message in the caller's mailbox."),
        },
        confirm_fetched,
        parameters=(MID,),
        pattern=f"/api/v1/mailbox/{ID}/ack",
    ),
)


def add_routes(app: web.Application) -> None:
    register(app, OPERATIONS)  # the path's `ack`: the fetch confirmation (see confirm_fetched)
