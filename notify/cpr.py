"""CPR numbers in free text, in every way people write them: `010203-1234`, `0102031234`, `010203 1234`,
`01.02.03-1234`, `01-02-03 1234`, glued to words (`CPR:0102031234`), with full-width digits or invisible
characters in between.

Pure (no imports from edigate or aiohttp), so both the outage procedure and the gateway can use it
(notify must not import edigate; edigate may import this module). A match is CPR-*shaped*: day 01-31,
month 01-12, any year, four digits, not part of a longer number (a 13-digit EAN never matches). No
modulus-11 check: CPR numbers issued since 2007 need not pass it.
"""

from __future__ import annotations

import re
import unicodedata

#: at most three separator characters between the parts: space (any), dot, slash, hyphen or dash
_SEP = r"[\s./\-\u2010-\u2015\u2212]{0,3}"
CPR_IN_TEXT = re.compile(rf"(?<!\d)(?:0[1-9]|[12]\d|3[01]){_SEP}(?:0[1-9]|1[0-2]){_SEP}\d\d{_SEP}\d{{4}}(?!\d)")
CPR_MARK = "[cpr]"


def _plain(text: str) -> str:
    """Full-width and other compatibility digits as plain digits; invisible format characters removed."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def contains_cpr(text: str) -> bool:
    """True if `text` holds something shaped like a CPR number, in any of its written forms."""
    return bool(text) and CPR_IN_TEXT.search(_plain(text)) is not None


def redact_cpr(text: str, mark: str = CPR_MARK) -> str:
    """`text` with every CPR-shaped number replaced by `mark` (compatibility characters normalised)."""
    return CPR_IN_TEXT.sub(mark, _plain(text))
