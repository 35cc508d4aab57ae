"""EAN/GLN location numbers: 13 digits, the last a GS1 check digit.

A MedCom EANIdentifier names an organisation, never a person; a number that fails the check may be anything
the user typed into the field, a CPR number included. So a value that failed is never echoed, logged as a
label or stored: errors say :data:`INVALID_EAN` and name the field, not the value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edigate.medcom.model import Envelope

__all__ = ["INVALID_EAN", "envelope_ean_problem", "gs1_check_digit", "is_valid_ean", "with_check_digit"]

# Danish: it reaches the sender's system (4xx reason, XCTL02 RefuseText) and the desk
INVALID_EAN = "ikke et gyldigt EAN/GLN-nummer (13 cifre med GS1-kontrolciffer)"


def gs1_check_digit(digits: str) -> str:
    """The GS1 check digit of 12 digits: weights 1,3,1,3… from the left, then 10 minus the sum mod 10."""
    if len(digits) != 12 or not digits.isascii() or not digits.isdigit():
        raise ValueError("a GS1 check digit is computed over exactly 12 ASCII digits")
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return str((10 - total % 10) % 10)


def with_check_digit(digits: str) -> str:
    """12 digits plus their check digit: a valid EAN/GLN (for fixtures, demos and benchmarks)."""
    return digits + gs1_check_digit(digits)


def is_valid_ean(value: object) -> bool:
    """True for a str of 13 ASCII digits whose last digit is the GS1 check digit of the first 12."""
    return (
        isinstance(value, str)
        and len(value) == 13
        and value.isascii()
        and value.isdigit()
        and gs1_check_digit(value[:12]) == value[12]
    )


def envelope_ean_problem(envelope: Envelope) -> str | None:
    """The first EAN field of an Emessage that is not a valid EAN/GLN, named by field (never by value)."""
    for n, letter in enumerate(envelope.letters, 1):
        for role, party in (("Afsender", letter.sender), ("Modtager", letter.receiver)):
            if not is_valid_ean(party.ean):
                return f"{role}-EAN i brev {n}: {INVALID_EAN}"
    rc = envelope.receipt
    if rc is not None:
        for role, ean in (("OriginalSender", rc.original_sender_ean), ("OriginalReceiver", rc.original_receiver_ean)):
            if ean is not None and not is_valid_ean(ean):
                return f"{role}-EAN: {INVALID_EAN}"
    return None
