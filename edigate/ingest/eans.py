"""Stage: every EAN of the message is a valid EAN/GLN before anything else looks at it (issue 10 #5).

A CPR number typed into an EAN field must not be echoed (the 403 of `authorise_sender` quotes the Sender),
stored, or become a metrics label: the answer names the field only, and the reading's envelope is dropped
so that the received-messages counter gets no sender or receiver label.
"""

from __future__ import annotations

import dataclasses

from edigate.ingest.answers import FieldError, MessageRejected, reply
from edigate.ingest.model import RECEIVED_REFUSED, Answer, IngestContext
from edigate.ingest.services import IngestServices
from edigate.medcom.ean import envelope_ean_problem

UKENDT_LOKATIONSNUMMER = "ukendt_lokationsnummer"


async def check_eans(s: IngestServices, ctx: IngestContext) -> Answer | None:
    parsed = ctx.parsed
    assert parsed is not None and parsed.envelope is not None
    problem = envelope_ean_problem(parsed.envelope)
    if problem is None:
        return None
    ctx.received = RECEIVED_REFUSED
    ctx.parsed = dataclasses.replace(parsed, envelope=None)  # no sender/receiver label for the counter
    return reply(
        422,
        MessageRejected(
            status="rejected",
            refuse_code=UKENDT_LOKATIONSNUMMER,
            errors=[FieldError(message=problem, line=None, path=None)],
            receipt=None,
            reason=problem,
        ),
    )
