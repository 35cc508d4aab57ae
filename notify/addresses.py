"""Mail addresses: checked where they enter (forms, API, config), stored normalised, re-checked before sending.

One bad address once stopped all outgoing mail (a control character made the SMTP client raise for its
row, in front of every other row). The syntax check is `email-validator`'s (RFC 5321/5322 and IDNA, no
DNS lookup: the outage procedure must accept addresses while the network is half down), not a regex.
"""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254  # RFC 5321: the longest path an SMTP server must accept


class InvalidAddress(ValueError):
    """Not a mail address edigate can send to; `str()` is a short English reason, never the value itself."""


def normalise_address(value: object) -> str:
    """The normalised form to store (domain lower case and IDNA-normalised), or InvalidAddress.

    Surrounding white space is dropped (a pasted address); anything else the library refuses is refused:
    control characters, spaces, display names, quoted local parts, IP literals, a domain without a dot."""
    if not isinstance(value, str):
        raise InvalidAddress("not a string")
    text = value.strip()
    if not text:
        raise InvalidAddress("empty")
    if len(text) > MAX_LENGTH:
        raise InvalidAddress(f"longer than {MAX_LENGTH} characters")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(_strip_value(str(exc))) from None
    except (UnicodeError, ValueError) as exc:  # lone surrogates and other undecodable text
        raise InvalidAddress(type(exc).__name__) from None
    return str(result.normalized)


def smtp_recipient(address: str) -> str:
    """The envelope recipient for a stored address: re-checked (rows may predate the check), domain as
    ASCII (punycode) where the local part allows it, so a server without SMTPUTF8 still takes it."""
    normal = normalise_address(address)
    result = validate_email(normal, check_deliverability=False)
    return str(result.ascii_email or result.normalized)


def printable(value: object, limit: int = 200) -> str:
    """A raw value made safe for an error text, an audit entry or a log line: control, format and
    surrogate characters as `\\xNN`/`\\uNNNN` escapes (PostgreSQL refuses NUL in text), cut to `limit`."""
    text = value if isinstance(value, str) else repr(value)
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape", "backslashreplace").decode("ascii"))
        else:
            out.append(ch)
    safe = "".join(out)
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def danish_error(label: str, exc: InvalidAddress) -> str:
    """The form's and the API's message for a refused address: names the field, says why, in Danish."""
    reason = str(exc)
    if "@-sign" in reason and ("must have" in reason or "missing" in reason.lower()):
        why = "mangler @ og et domæne"
    elif "invalid character" in reason or "U+" in reason or "SPACE" in reason:
        why = "indeholder tegn, der ikke er tilladt (mellemrum, kontroltegn o.l.)"
    elif "display name" in reason:
        why = "skal stå alene, uden navn og <>"
    elif "after the @-sign" in reason or "domain" in reason.lower():
        why = "har ikke et gyldigt domæne efter @ (fx kommune.dk)"
    elif "longer than" in reason or "too long" in reason:
        why = f"er for lang (højst {MAX_LENGTH} tegn)"
    elif reason == "empty":
        why = "mangler"
    else:
        why = "er ikke en gyldig e-mailadresse"
    return f"{label}: adressen {why}. Skriv fx navn@kommune.dk."


def _strip_value(reason: str) -> str:
    """email-validator's reasons name characters (U+0001), never echo the whole value; keep them short."""
    return printable(reason, 160)
