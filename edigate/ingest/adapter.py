"""The seam a message format joins the pipeline through (OIOXML today, MedCom FHIR beside it).

A format adapter reads and validates a body, builds the format's own negative answer (an XCTL02
receipt, a FHIR Acknowledgement) and words the reply for each store outcome. Every other stage
(authorise, route, duplicate check, durable accept) is the same for all formats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from edigate.ingest.model import Answer, IngestContext, Parsed, Refusal
from edigate.store.model import GeneratedReceipt


class FormatAdapter(Protocol):
    name: str  # "oioxml" | "fhir": stored with the message, chooses the delivery content type

    def content_types(self) -> tuple[str, ...]:
        """The request content types this format may arrive in."""
        ...

    async def parse(self, body: bytes, content_type: str) -> Parsed | Answer:
        """The reading and verdict; an Answer when the format cannot be judged now (503)."""
        ...

    def unreadable(self, ctx: IngestContext) -> Answer:
        """422 for a body that could not be read far enough to answer it in the format's own terms."""
        ...

    def routing_refusal(self, parsed: Parsed, code: str, reason: str) -> Refusal:
        """The refusal for a receiver that is unknown or does not take this standard, in the format's terms."""
        ...

    def negative(self, parsed: Parsed, refusal: Refusal, now: datetime) -> GeneratedReceipt | None:
        """The negative answer to queue to the sender (None: none can be built or none is due)."""
        ...

    def answer(self, ctx: IngestContext) -> Answer:
        """The reply for the store's outcome (ctx.outcome)."""
        ...
