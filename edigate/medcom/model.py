"""The envelope model: what edigate needs to know of a MedCom message to route, store and receipt it.

The patient's CPR is kept only for routing and is excluded from repr() so it cannot leak into logs or
exception text by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

_T = TypeVar("_T")

AcknowledgementCode = Literal["pluspositivkvitt", "minuspositivkvitt"]
RefuseCode = Literal[
    "ikke_specificeret",
    "ukendt_lokationsnummer",
    "problem_med_modtagerID",
    "problem_med_version",
    "syntaksfejl",
]
REFUSE_CODES: tuple[str, ...] = (
    "ikke_specificeret",
    "ukendt_lokationsnummer",
    "problem_med_modtagerID",
    "problem_med_version",
    "syntaksfejl",
)


@dataclass(frozen=True)
class Party:
    """Sender or Receiver of a letter (EANIdentifier is the GLN location number)."""

    ean: str | None
    identifier: str | None = None
    identifier_code: str | None = None
    organisation_name: str | None = None
    department_name: str | None = None
    unit_name: str | None = None


@dataclass(frozen=True)
class Letter:
    id: str
    type: str  # catalogue type code, e.g. "XDIS91"
    root: str  # letter root element, e.g. "ClinicalEmail"
    version_code: str | None
    statistical_code: str | None
    status: str | None  # "nytbrev" | "rettetbrev" | None for receipts
    sender: Party
    receiver: Party
    episode_of_care_id: str | None = None
    patient_cpr: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class OriginalLetterRef:
    letter_id: str
    version_code: str | None


@dataclass(frozen=True)
class ReceiptContent:
    """What an XCTL01/02/03 says about the message it answers."""

    kind: Literal["positive", "negative", "negative_vans"]
    original_envelope_id: str
    original_sender_ean: str | None
    original_receiver_ean: str | None
    original_letters: tuple[OriginalLetterRef, ...]
    refuse_code: str | None = None  # envelope-wide RefuseCode for negative receipts
    refuse_text: str | None = None
    letter_refusals: tuple[tuple[str, str | None, str | None], ...] = ()  # (letter id, code, text)


@dataclass(frozen=True)
class Envelope:
    """One Emessage: its envelope and its letters (all of one catalogue type)."""

    id: str
    sent: datetime | None  # naive local time (MedCom has minute precision, no zone)
    acknowledgement_code: str | None
    namespace: str
    message_type: str  # catalogue type code of the letters
    letters: tuple[Letter, ...]
    receipt: ReceiptContent | None = None  # set when the message is itself a receipt

    @property
    def sender(self) -> Party:
        return self.letters[0].sender

    @property
    def receiver(self) -> Party:
        return self.letters[0].receiver

    @property
    def ack_requested(self) -> bool:
        return self.acknowledgement_code == "pluspositivkvitt"

    @property
    def is_receipt(self) -> bool:
        return self.receipt is not None


@dataclass(frozen=True)
class ValidationError:
    message: str
    line: int | None = None
    path: str | None = None


@dataclass(frozen=True)
class ValidationResult:
    """The verdict on one message. `envelope` is filled whenever the XML was well-formed MedCom enough to
    read ids from, even when invalid, so a negative receipt can name the original."""

    valid: bool
    refuse_code: str | None
    errors: tuple[ValidationError, ...]
    envelope: Envelope | None
    namespace: str | None = None
    message_type: str | None = None  # catalogue type code, None if unsupported/unreadable
    version_code: str | None = None
    # Set only by validate(..., explain=False) on a schema failure: the schema entry file whose readable
    # explanation (edigate.medcom.explain) is still to be built; `errors` then holds lxml's own log.
    explain_schema: str | None = None


def frozen(cls: type[_T], values: dict[str, Any]) -> _T:
    """An instance of the frozen dataclass `cls` holding `values`, which must name every field.

    Why: a frozen dataclass's __init__ sets each field through object.__setattr__; on the hot path of
    every message (Letter, Envelope, ValidationResult) filling the instance dict in one call halves that
    cost. The instance is the same as the constructor's: equal, equally hashed, equally frozen."""
    obj = object.__new__(cls)
    obj.__dict__.update(values)
    return obj
