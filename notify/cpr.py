"""CPR numbers in free text, in every way people write them: `010203-1234`, `0102031234`, `010203 1234`,
`01.02.03-1234`, `01-02-03 1234`, glued to words (`CPR:0102031234`), with full-width digits or invisible
characters in between.

Pure (no imports from edigate or aiohttp), so both the outage procedure and the gateway can use it
(notify must not import edigate; edigate may import this module). A match is CPR-*shaped*: day 01-31,
month 01-12, any year, four digits, not part of a longer number (a 13-digit EAN never matches), and not
inside a UUID (`6c150385-1234-41a4-…` holds the shape `150385-1234`; a resource or message id must stay
whole). A CPR glued to letters (`pt0102031234x`) is still found: only the UUID shape is exempt, not every
word, since people do glue a CPR to words. No modulus-11 check: CPR numbers issued since 2007 need not pass
it.
"""

from __future__ import annotations

import re
import unicodedata

#: at most three separator characters between the parts: space (any), dot, slash, hyphen or dash
_SEP = r"[\s./\-\u2010-\u2015\u2212]{0,3}"
CPR_IN_TEXT = re.compile(rf"(?<!\d)(?:0[1-9]|[12]\d|3[01]){_SEP}(?:0[1-9]|1[0-2]){_SEP}\d\d{_SEP}\d{{4}}(?!\d)")
CPR_MARK = "[cpr]"
_HEX = "[0-9A-Fa-f]"
#: a UUID is tried first at each position, so a CPR-shaped run inside one is passed over with it
_SCAN = re.compile(
    rf"(?P<uuid>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})|(?P<cpr>{CPR_IN_TEXT.pattern})"
)


def _plain(text: str) -> str:
    """Full-width and other compatibility digits as plain digits; invisible format characters removed."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def contains_cpr(text: str) -> bool:
    """True if `text` holds something shaped like a CPR number, in any of its written forms."""
    return bool(text) and any(m.group("cpr") for m in _SCAN.finditer(_plain(text)))


def redact_cpr(text: str, mark: str = CPR_MARK) -> str:
    """`text` with every CPR-shaped number replaced by `mark` (compatibility characters normalised)."""
    return _SCAN.sub(lambda m: m.group("uuid") or mark, _plain(text))
