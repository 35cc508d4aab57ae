"""What flows through the ingest pipeline: the request, the adapter's reading, the answer.

Pure data: no HTTP, no storage. The HTTP handler builds an :class:`IngestRequest` and turns the
:class:`Answer` back into a response; every stage in between reads and fills one :class:`IngestContext`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edigate.medcom.model import Envelope
from edigate.routing import Caller
from edigate.store.model import GeneratedReceipt, IngestItem, IngestOutcome

if TYPE_CHECKING:
    from edigate.ingest.adapter import FormatAdapter

# metrics outcome labels (edigate_messages_received_total{outcome=…})
RECEIVED_ACCEPTED = "accepted"
RECEIVED_DUPLICATE = "duplicate"
RECEIVED_INVALID = "invalid"
RECEIVED_REFUSED = "refused"
RECEIVED_UNAUTHORIZED = "unauthorized"
RECEIVED_ERROR = "error"


@dataclass(frozen=True)
class IngestRequest:
    """One POST /api/v1/messages as the pipeline sees it (no aiohttp types)."""

    authorization: str | None  # the bearer token, already stripped of "Bearer "
    content_type: str
    content_length: int | None
    read_body: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Answer:
    """The reply: a JSON document, or raw bytes with their content type (a FHIR Acknowledgement)."""

    status: int
    json: Mapping[str, Any] | None = None
    body: bytes | None = None
    content_type: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """One reason a message is refused, as the answer shows it (`path`: XPath or FHIRPath)."""

    message: str
    line: int | None = None
    path: str | None = None
    severity: str = "error"
    code: str | None = None  # FHIR IssueType
    detail_code: str | None = None  # MedCom's Acknowledgement error code, where one fits
    expressions: tuple[str, ...] = ()  # every FHIRPath the validator named (path is the first)


@dataclass(frozen=True)
class Refusal:
    """Why a readable message is refused: a MedCom RefuseCode (OIOXML) or Acknowledgement code (FHIR)."""

    code: str
    text: str
    problems: tuple[Problem, ...]
    invalid: bool  # True: the message itself is invalid (metrics "invalid"); False: refused by routing


@dataclass(frozen=True)
class Parsed:
    """An adapter's reading of a body: enough to route, store and answer it.

    `envelope` is None when the body could not be read far enough to answer it with a receipt.
    `standard` is the catalogue type ("XDIS91") or FHIR standard ("CareCommunication").
    """

    envelope: Envelope | None
    standard: str | None
    version: str | None
    problems: tuple[Problem, ...]
    refusal: Refusal | None
    unreadable_code: str | None = None
    format: str = "oioxml"  # how the store keeps it (edigate.store.model: oioxml | fhir+json | fhir+xml)
    extra: Any = None  # the adapter's own reading (e.g. the FHIR message ids), opaque to the stages

    @property
    def sender(self) -> str | None:
        return self.envelope.sender.ean if self.envelope and self.envelope.letters else None

    @property
    def receiver(self) -> str | None:
        return self.envelope.receiver.ean if self.envelope and self.envelope.letters else None


@dataclass
class IngestContext:
    """The state of one request as it passes the stages."""

    request: IngestRequest
    caller: Caller | None = None
    body: bytes = b""
    adapter: FormatAdapter | None = None
    parsed: Parsed | None = None
    refusal: Refusal | None = None
    negative: GeneratedReceipt | None = None
    item: IngestItem | None = None
    outcome: IngestOutcome | None = None
    received: str | None = None  # the metrics outcome label, set with the answer

    def label(self) -> tuple[str | None, str | None, str | None]:
        """(standard, sender, receiver) for the received-messages counter."""
        p = self.parsed
        if p is None:
            return None, None, None
        return p.standard, p.sender, p.receiver
