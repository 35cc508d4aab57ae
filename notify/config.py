"""The `[notify]` section of the TOML config as typed, validated, frozen pydantic models.

The gateway's `edigate.settings.Settings` composes :class:`NotifySettings` as its `notify` field and turns
a validation error into one line naming the full key (`notify.mail.port: must be an integer`); notify
itself never parses TOML. Absent keys take the Region Syddanmark defaults.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, time
from email.utils import parseaddr
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from notify.addresses import InvalidAddress, normalise_address

__all__ = ["WEEKDAYS", "Contacts", "MailSettings", "NotifySettings", "Reporter", "RuleOverrides", "Webhook"]

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


_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _clock(value: str) -> time:
    m = _CLOCK.match(value.strip())
    if m is None:
        raise ValueError('must be a time of day "HH:MM"')
    return time(int(m.group(1)), int(m.group(2)))


def span(value: str) -> tuple[time, time]:
    """ "08:00-15:45" → (08:00, 15:45); the end must come after the start (a span within one day)."""
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError('must be a span "HH:MM-HH:MM" (e.g. "08:00-15:45")')
    first, last = _clock(start), _clock(end)
    if last <= first:
        raise ValueError(f'must end after it starts ("{value}")')
    return first, last


def _closing_day(value: str) -> str:
    """ "12-24" (every year) or "2027-12-27" (once)."""
    try:
        if len(value) == 5:
            date.fromisoformat(f"2000-{value}")  # a leap year: "02-29" is allowed
        else:
            date.fromisoformat(value)
            if len(value) != 10:
                raise ValueError
    except ValueError:
        raise ValueError(f'must be "MM-DD" (every year) or "YYYY-MM-DD" (once), not "{value}"') from None
    return value


def _checked_span(value: str) -> str:
    span(value)
    return value


def _string_list(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise ValueError('must be a list of days, e.g. ["12-24", "12-31"]')
    return tuple(value)


Span = Annotated[str, AfterValidator(_checked_span)]
ClosingDay = Annotated[str, AfterValidator(_closing_day)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class RuleOverrides(_Table):
    """The procedure's numbers and hours. Absent keys keep Region Syddanmark's values (notify.policy)."""

    notice_threshold_minutes: PositiveInt | None = None
    next_status_minutes: PositiveInt | None = None
    #: "alle dage mellem kl. 08.00 og 22.00": when notices go out and reports are handled
    notice_window: Span | None = None
    #: EDI support's opening hours per weekday ("mon" … "sun"); a day left out is closed. Outside them (in
    #: the notice window) the operations and management on-call ("drifts- og ledelsesvagten") handles.
    support_hours: Mapping[Weekday, Span] | None = None
    #: the region's closing days besides Danish public holidays (default 24 and 31 December)
    closing_days: Annotated[tuple[ClosingDay, ...], BeforeValidator(_string_list)] | None = None


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
