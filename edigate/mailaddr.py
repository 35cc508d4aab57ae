"""Mail addresses in edigate's own config (partner mailboxes, `[alerts]` lists): checked with
`email-validator` at load time, normalised, so a bad address is a config error naming its key instead of
an outbox row that can never be sent. (The outage procedure checks its own input in `notify.addresses`.)"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def config_address(value: object, key: str) -> str:
    """The normalised address, or ValueError `"<key>: must be a mail address (<why>)"`."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key}: must be a mail address")
    text = value.strip()
    if len(text) > 254:
        raise ValueError(f"{key}: must be a mail address (longer than 254 characters)")
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ValueError(f"{key}: must be a mail address ({exc})") from None
    except (UnicodeError, ValueError) as exc:
        raise ValueError(f"{key}: must be a mail address ({type(exc).__name__})") from None
