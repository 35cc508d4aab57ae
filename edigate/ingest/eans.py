"""Stage: every EAN of the message is a valid EAN/GLN before anything else looks at it (issue 10 #5).

A CPR number typed into an EAN field must not be echoed (the 403 of `authorise_sender` quotes the Sender),
stored, or become a metrics label: the answer names the field only.

Who can be told (MedCom: a refused message is answered with an XCTL02 negative receipt to its sender):
- an invalid Sender EAN (any letter), or any invalid EAN in a receipt: nobody can be addressed (and a
  receipt is never answered with a receipt), so a 422 only; nothing is stored and the reading's envelope is
  dropped, so the received-messages counter gets no sender or receiver label;
- an invalid Receiver EAN with valid Senders in an OIOXML message: refused `ukendt_lokationsnummer` like
  an unknown receiver, so the sender gets its XCTL02 (from `[medcom] gateway_ean`: the receiver cannot sign
  it; without one, the 422 and the stored refusal only). The invalid value is blanked from the envelope
  first, so neither the stored message, the receipt's OriginalReceiver, the log line nor the counter
  carries it; the refusal replaces the validator's, whose texts may quote it.
  (A FHIR message keeps the 422: its Acknowledgement is the FHIR adapter's, not changed here.)
"""

from __future__ import annotations

import dataclasses

from edigate.ingest.answers import FieldError, MessageRejected, reply
from edigate.ingest.model import RECEIVED_REFUSED, Answer, IngestContext, Problem, Refusal
from edigate.ingest.services import IngestServices
from edigate.medcom.ean import envelope_ean_problem, is_valid_ean
from edigate.medcom.model import Envelope
from edigate.store.model import OIOXML

UKENDT_LOKATIONSNUMMER = "ukendt_lokationsnummer"


async def check_eans(s: IngestServices, ctx: IngestContext) -> Answer | None:
    parsed = ctx.parsed
    assert parsed is not None and parsed.envelope is not None
    env = parsed.envelope
    problem = envelope_ean_problem(env)
    if problem is None:
        return None
    if parsed.format == OIOXML and not env.is_receipt and all(is_valid_ean(lt.sender.ean) for lt in env.letters):
        refusal = Refusal(UKENDT_LOKATIONSNUMMER, problem, (Problem(problem),), invalid=False)
        ctx.refusal = refusal
        ctx.parsed = dataclasses.replace(parsed, envelope=_without_invalid_receivers(env), problems=refusal.problems)
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


def _without_invalid_receivers(env: Envelope) -> Envelope:
    """The envelope with every Receiver EAN that is not a valid EAN/GLN blanked (stored as "": no receiver)."""
    letters = tuple(
        lt
        if is_valid_ean(lt.receiver.ean)
        else dataclasses.replace(lt, receiver=dataclasses.replace(lt.receiver, ean=None))
        for lt in env.letters
    )
    return dataclasses.replace(env, letters=letters)
