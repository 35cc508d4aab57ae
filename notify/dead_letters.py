"""The desk's port to the gateway's dead letters: the messages edigate gave up delivering (too many attempts,
or too old in the queue), and "Prøv igen", which puts one back in its receiver's queue with a fresh age.

The procedure's desk answers the sender that was told (by a negative receipt, XCTL02 `ikke_specificeret`)
that its message could not be delivered; when the receiver is back, the desk sends it again. notify imports
nothing of the gateway: the gateway implements this port (edigate/store/dead_letter_desk.py) and
edigate/app.py wires it in. A row carries the message's metadata only, never its body: no CPR number and no
patient name can reach the desk's page through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from notify.model import AuditEntry

#: the notify audit log's action for a re-queued dead letter (one entry per message)
AUDIT_ACTION = "opgivet meddelelse sendt igen"

#: queued: back in the queue; not_dead: retried already or delivered; not_found: no such message;
#: purged: the body is gone (retention), nothing to send
RetryOutcome = Literal["queued", "not_dead", "not_found", "purged"]


@dataclass(frozen=True)
class DeadLetter:
    """One message given up on, as the desk may see it: who to whom, what, since when and why."""

    id: int
    sender_ean: str
    sender_name: str
    receiver_ean: str
    receiver_name: str
    type: str  # the catalogue type (XDIS91, XCTL02 …) or a FHIR message's standard
    standard: str  # "OIOXML" or "FHIR"
    failed_at: datetime
    reason: str  # the last attempt's reason, CPR numbers already replaced by [cpr]
    attempts: int
    can_retry: bool = True  # False once retention has purged the body


@dataclass(frozen=True)
class DeadLetterPage:
    """Newest first; `next_cursor` continues after the last row (None on the last page)."""

    letters: list[DeadLetter]
    next_cursor: str | None = None


@dataclass(frozen=True)
class ReceiverCount:
    """A receiver with dead letters, for "Prøv alle til … igen"."""

    ean: str
    name: str
    count: int


@dataclass(frozen=True)
class RetryResult:
    outcome: RetryOutcome
    letter: DeadLetter | None = None  # the message as it was when retried (None if it does not exist)


class InvalidCursor(ValueError):
    """A cursor that no page of this port made (edited by hand, or cut off)."""


class DeadLetterDesk(Protocol):
    """Storage side of the desk's dead-letter page; each re-queue is stored with its audit entry, or not at
    all."""

    async def list_dead_letters(self, *, cursor: str | None = None, limit: int = 50) -> DeadLetterPage: ...

    async def receivers(self) -> list[ReceiverCount]: ...

    async def retry(self, message_id: int, by: str) -> RetryResult: ...

    async def retry_receiver(self, receiver_ean: str, by: str) -> list[DeadLetter]: ...

    async def history(self, limit: int = 20) -> list[AuditEntry]: ...


def audit_detail(letter: DeadLetter) -> str:
    """What the audit log says about one re-queued dead letter: which message, which route, no content."""
    return (
        f"Meddelelse {letter.id} ({letter.type}, {letter.standard}) fra {letter.sender_name} ({letter.sender_ean}) "
        f"til {letter.receiver_name} ({letter.receiver_ean}) lagt i kø igen med ny alder efter {letter.attempts} "
        "forsøg."
    )


def retry_text(result: RetryResult, message_id: int) -> str:
    """The desk's answer to "Prøv igen", in Danish, for each outcome."""
    letter = result.letter
    if result.outcome == "queued" and letter is not None:
        return (
            f"Meddelelse {letter.id} ({letter.type}) til {letter.receiver_name} er lagt i kø igen med ny alder. "
            "Den sendes, så snart modtageren svarer."
        )
    if result.outcome == "not_dead":
        return (
            f"Meddelelse {message_id} er ikke længere opgivet: den er allerede sendt igen eller leveret. "
            "Intet er ændret."
        )
    if result.outcome == "purged":
        return (
            f"Meddelelse {message_id} kan ikke sendes igen: indholdet er slettet efter opbevaringsperioden. "
            "Bed afsenderen sende den igen."
        )
    return f"Meddelelse {message_id} findes ikke."
