"""The `[notify]` section of the TOML config as typed, validated, frozen pydantic models.

The gateway's `edigate.settings.Settings` composes :class:`NotifySettings` as its `notify` field and turns
a validation error into one line naming the full key (`notify.mail.port: must be an integer`); notify
itself never parses TOML. Absent keys take the Region Syddanmark defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.utils import parseaddr
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from notify.addresses import InvalidAddress, normalise_address

__all__ = ["Contacts", "MailSettings", "NotifySettings", "Reporter", "RuleOverrides", "Webhook"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")

#: one SMTP send waits for up to four server replies (MAIL, RCPT, DATA, end of data), each within the timeout
SMTP_REPLIES_PER_SEND = 4


class _Table(BaseModel):
    """A TOML table: no unknown keys, no silent coercion ("25" is not a port), immutable once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


def _email(value: str) -> str:
    """Checked with email-validator and normalised; the reason never echoes the value."""
    try:
        return normalise_address(value)
    except InvalidAddress as exc:
        raise ValueError(f"must be an e-mail address ({exc})") from None


def _optional_email(value: str) -> str:
    return _email(value) if value else ""


def _from_address(value: str) -> str:
    """`From:` may carry a display name ("EDI-support <edi@x.dk>"); its address part must be valid."""
    _name, addr = parseaddr(value)
    if any(ch in value for ch in "\r\n\0") or not addr:
        raise ValueError("must be an e-mail address, optionally with a name")
    _email(addr)
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def _token_digests(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(x, str) and _HEX64.match(x.lower()) for x in value):
        raise ValueError("must be a list of 64-digit hex SHA-256 digests")
    return frozenset(x.lower() for x in value)


def _array_of_tables(value: Any) -> Any:
    if not isinstance(value, list | tuple) or not all(isinstance(x, dict | BaseModel) for x in value):
        raise ValueError("must be an array of tables ([[…]])")
    return tuple(value)


Email = Annotated[str, AfterValidator(_email)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Positive = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class MailSettings(_Table):
    kind: Literal["directory", "smtp"] = "directory"
    directory: str = "var/mail"
    from_addr: Annotated[str, AfterValidator(_from_address)] = Field(
        "EDI-support Region Syddanmark <edi-support@rsyd.example>", alias="from"
    )
    host: str = "127.0.0.1"
    port: Annotated[int, Field(gt=0, le=65535)] = 25
    starttls: Literal["off", "required"] = "off"
    username: str | None = None
    password_env: str | None = None
    timeout_seconds: Positive = 10.0
    #: optional mailbox that unsubscribes by mail (List-Unsubscribe mailto), besides the one-click URL
    unsubscribe_mailto: str | None = None


class Reporter(_Table):
    """Who may file incidents: an organisation's EOJ system owner or Regional IT, by token."""

    name: str
    organisation: str
    role: Literal["eoj", "regional-it"]
    tokens_sha256: Annotated[frozenset[str], BeforeValidator(_token_digests)] = frozenset()


class Contacts(_Table):
    edi_support_phone: str = ""
    on_call_phone: str = ""
    edi_support_email: Annotated[str, AfterValidator(_optional_email)] = ""
    duty_phones: Mapping[str, str] = Field(default_factory=dict)


class Webhook(_Table):
    url: HttpUrl
    secret_env: str | None = None


class RuleOverrides(_Table):
    notice_threshold_minutes: PositiveInt | None = None
    next_status_minutes: PositiveInt | None = None


class NotifySettings(_Table):
    public_url: Annotated[HttpUrl, AfterValidator(lambda u: u.rstrip("/"))] = "http://127.0.0.1:8080"
    edi_support_email: Email = "edi-support@rsyd.example"
    on_call_email: Email = "driftsvagt@rsyd.example"
    mail: MailSettings = Field(default_factory=MailSettings)
    rules: RuleOverrides = Field(default_factory=RuleOverrides)
    reporters: Annotated[tuple[Reporter, ...], BeforeValidator(_array_of_tables)] = ()
    contacts: Contacts = Field(default_factory=Contacts)
    webhooks: Annotated[tuple[Webhook, ...], BeforeValidator(_array_of_tables)] = ()
    session_secret_env: str | None = None  # unset: a random secret per process (sessions end on restart)
    scheduler_max_sleep_seconds: Positive = 30.0
    outbox_poll_seconds: Positive = 1.0
    outbox_max_backoff_seconds: Positive = 300.0
    webhook_timeout_seconds: Positive = 5.0
    #: how long a sender's claim on an outbox row lasts; another sender may take the row only after it
    outbox_lease_seconds: Positive = 60.0
    login_max_failures: Annotated[int, Field(gt=0, le=100)] = 5  # wrong access keys from one address …
    login_window_minutes: Annotated[int, Field(gt=0, le=24 * 60)] = 15  # … counted within, locked out for
    #: unauthenticated subscription requests per client address within the window; more get 429
    subscribe_max_per_client: Annotated[int, Field(gt=0, le=10_000)] = 10
    subscribe_client_window_minutes: Annotated[int, Field(gt=0, le=24 * 60)] = 10
    #: confirmation mails per target address within the window (a pending one blocks new ones as long)
    subscribe_max_per_address: Annotated[int, Field(gt=0, le=100)] = 3
    subscribe_address_window_hours: Annotated[int, Field(gt=0, le=24 * 30)] = 24

    @model_validator(mode="after")
    def _lease_outlasts_one_send(self) -> NotifySettings:
        """The outbox row lease must outlast one send, or a second sender could take a row still being sent."""
        smtp_send = SMTP_REPLIES_PER_SEND * self.mail.timeout_seconds
        if self.outbox_lease_seconds <= smtp_send:
            raise ValueError(
                f"outbox_lease_seconds: must be more than {smtp_send:g} "
                f"({SMTP_REPLIES_PER_SEND} × mail.timeout_seconds, the longest SMTP send)"
            )
        if self.outbox_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError("outbox_lease_seconds: must be more than webhook_timeout_seconds")
        return self
