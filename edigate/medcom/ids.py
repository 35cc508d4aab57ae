"""Envelope and letter identifiers: MedCom allows 1–14 characters (Text14).

The schemas' Text14 is any xs:string of 1–14 characters, line breaks and control characters included.
Such an id cannot travel: it ends up in HTTP headers, file names and EDIFACT control references of the
receivers' systems. edigate therefore accepts the shape every MedCom example and every real system uses:
1–14 visible ASCII characters (no space, no line break, no control character).
"""

from __future__ import annotations

import re
import secrets
import time

from edigate.medcom.model import Envelope

MAX_ID_LENGTH = 14
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALID = re.compile(r"[!-~]{1,14}")  # visible ASCII, checked with fullmatch
IDENTIFIER_SHAPE = "1–14 synlige ASCII-tegn (uden mellemrum, linjeskift eller kontroltegn)"


def _base36(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _ALPHABET[r] + out
    return out or "0"


def new_identifier(prefix: str = "") -> str:
    """A fresh 14-character id: optional prefix (≤ 4 chars), time in ms (base 36), random fill.

    Time first keeps ids roughly sortable; the random tail keeps them unique across processes."""
    if len(prefix) > 4 or not re.fullmatch(r"[0-9A-Za-z]*", prefix):
        raise ValueError("id prefix must be at most 4 letters/digits")
    head = prefix + _base36(time.time_ns() // 1_000_000)
    fill = MAX_ID_LENGTH - len(head)
    return head + "".join(secrets.choice(_ALPHABET) for _ in range(fill))


def is_valid_identifier(value: str | None) -> bool:
    """1–14 visible ASCII characters: what edigate accepts as an envelope or letter Identifier."""
    return value is not None and _VALID.fullmatch(value) is not None


def identifier_problem(envelope: Envelope) -> str | None:
    """Which Identifier of the Emessage has not the accepted shape (never quoting it), or None."""
    if not is_valid_identifier(envelope.id):
        return f"Envelope/Identifier skal være {IDENTIFIER_SHAPE}"
    for n, letter in enumerate(envelope.letters, 1):
        if not is_valid_identifier(letter.id):
            return f"Identifier i brev {n} skal være {IDENTIFIER_SHAPE}"
    rc = envelope.receipt
    if rc is not None:
        if not is_valid_identifier(rc.original_envelope_id):
            return f"OriginalEnvelopeIdentifier skal være {IDENTIFIER_SHAPE}"
        if any(not is_valid_identifier(ref.letter_id) for ref in rc.original_letters):
            return f"OriginalLetterIdentifier skal være {IDENTIFIER_SHAPE}"
    return None
