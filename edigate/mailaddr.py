"""Mail addresses in edigate's own config (partner mailboxes, `[alerts]` lists): checked with
`email-validator` at load time, normalised, so a bad address is a config error naming its key instead of
an outbox row that can never be sent. (The outage procedure checks its own input in `notify.addresses`.)"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def mail_address(value: object) -> str:
    """The normalised address, or ValueError `"must be a mail address (<why>)"` (the caller adds the key).

    The reason names a bad character by its code point (U+0001), never echoes the value."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a mail address")
    text = value.strip()
    if len(text) > 254:
        raise ValueError("must be a mail address (longer than 254 characters)")
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"must be a mail address ({exc})") from None
    except (UnicodeError, ValueError) as exc:
        raise ValueError(f"must be a mail address ({type(exc).__name__})") from None
