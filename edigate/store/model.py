"""What the gateway hands the store to accept, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from edigate.medcom.model import Envelope
from edigate.store.states import MessageState

OutcomeKind = Literal["accepted", "rejected", "duplicate", "conflict"]

# gw_messages.state values, in MedCom's life of a message (edigate.store.states)
STATES = tuple(MessageState)

# message formats (gw_messages.format; NULL = OIOXML, as every row made before FHIR)
OIOXML = "oioxml"
FHIR_JSON = "fhir+json"
FHIR_XML = "fhir+xml"
CONTENT_TYPES = {OIOXML: "application/xml", FHIR_JSON: "application/fhir+json", FHIR_XML: "application/fhir+xml"}


def content_type_of(fmt: str | None) -> str:
    """The media type a stored message is delivered with."""
    return CONTENT_TYPES.get(fmt or OIOXML, "application/xml")


def is_fhir(fmt: str | None) -> bool:
    return fmt in (FHIR_JSON, FHIR_XML)


@dataclass(frozen=True)
class GeneratedReceipt:
    """A negative receipt edigate built for a rejected message, to queue to the sender."""

    body: bytes
    envelope_id: str
    letter_id: str
    sender_ean: str  # who the receipt is from (the original receiver)
    type: str = "XCTL02"
    version_code: str | None = "XC0230Q"
    format: str = OIOXML


@dataclass(frozen=True)
class IngestItem:
    envelope: Envelope
    body: bytes
    rejected: bool = False
    refuse_code: str | None = None
    refuse_text: str | None = None
    receipt: GeneratedReceipt | None = None
    format: str = OIOXML  # FHIR: a duplicate of a refused original is a duplicate too (negative duplicate)


@dataclass(frozen=True)
class IngestOutcome:
    kind: OutcomeKind
    id: int | None
    state: str | None = None  # for duplicates: the original's state
    refuse_code: str | None = None
    refuse_text: str | None = None
    receipt_resent: bool = False
    receipt_body: bytes | None = field(default=None, repr=False)
    queued_receipt_id: int | None = None
    # ids of receivers whose queue got new work in this commit (wakes the delivery worker)
    woken: tuple[str, ...] = ()


@dataclass(frozen=True)
class QueuedMessage:
    id: int
    envelope_id: str
    receiver_ean: str
    sender_ean: str
    type: str
    body: bytes = field(repr=False)
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    format: str | None = None  # None = OIOXML

    @property
    def content_type(self) -> str:
        return content_type_of(self.format)


@dataclass(frozen=True)
class MissingReceiptAlert:
    """A message whose MedCom receipt is still missing after the alert time (MedCom: a real alarm at ~90 min)."""

    id: int
    envelope_id: str
    sender_ean: str
    receiver_ean: str
    type: str
    created_at: datetime


AckAlert = MissingReceiptAlert  # the old name (before the receipt / fetch-confirmation vocabulary), kept for callers
