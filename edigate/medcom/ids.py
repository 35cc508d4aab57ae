"""Envelope and letter identifiers: MedCom allows 1–14 characters (String_1_14)."""

from __future__ import annotations

import re
import secrets
import time

MAX_ID_LENGTH = 14
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALID = re.compile(r"^[0-9A-Za-z._-]{1,14}$")


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
    """1–14 characters, letters, digits, '.', '_' or '-' (what the schemas accept and is safe to print)."""
    return bool(value) and bool(_VALID.match(str(value)))
