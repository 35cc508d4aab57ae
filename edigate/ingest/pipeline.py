"""The ingest pipeline: POST /api/v1/messages as one visible list of stages (OpenHIM's middleware model).

Each stage reads and fills the request's IngestContext and either passes it on (None) or ends the request
with an Answer. Format-specific work (reading, validating, negative answers, wording the reply) is the
format adapter's (edigate.ingest.oioxml, edigate.fhir.adapter); every other stage is shared.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from edigate.ingest.accept import answer, build_item, durable_accept
from edigate.ingest.authenticate import authenticate
from edigate.ingest.authorise import authorise_receipt, authorise_sender
from edigate.ingest.body import read_body
from edigate.ingest.eans import check_eans
from edigate.ingest.identify import identify_format
from edigate.ingest.model import Answer, IngestContext, IngestRequest
from edigate.ingest.receiver import convert_for_receiver, resolve_receiver
from edigate.ingest.services import IngestServices
from edigate.ingest.validate import parse_and_validate

Stage = Callable[[IngestServices, IngestContext], Awaitable[Answer | None]]

STAGES: tuple[Stage, ...] = (
    authenticate,  # bearer token -> caller                                         401
    read_body,  # declared content type and length, then the body                   415, 413
    identify_format,  # the content -> its format adapter (OIOXML | FHIR)            415
    parse_and_validate,  # the adapter: envelope, standard, verdict                  422, 503
    check_eans,  # every EAN a valid EAN/GLN, never echoed (a CPR in the field)      422
    authorise_sender,  # the caller owns the sender                                  403
    authorise_receipt,  # a receipt comes from the receiver of what it answers       422
    convert_for_receiver,  # seam: a converter between generations (none yet)
    resolve_receiver,  # a known receiver that takes this standard, else a refusal
    build_item,  # what the store keeps; a refusal gets the adapter's negative answer
    durable_accept,  # duplicate check + COMMIT in one store transaction              503
    answer,  # the adapter's reply for the outcome                                   202, 200, 422
)


class IngestPipeline:
    def __init__(self, services: IngestServices, stages: tuple[Stage, ...] = STAGES) -> None:
        self.services = services
        self.stages = stages

    async def run(self, request: IngestRequest) -> Answer:
        ctx = IngestContext(request)
        result: Answer | None = None
        for stage in self.stages:
            result = await stage(self.services, ctx)
            if result is not None:
                break
        assert result is not None, "the last stage always answers"
        if ctx.received is not None:
            self.services.observe_received(*ctx.label(), ctx.received)
        return result
