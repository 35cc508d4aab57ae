"""The `[notify]` section of the TOML config -> typed settings. Every error names its full key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

from notify.addresses import InvalidAddress, normalise_address


class NotifyConfigError(ValueError):
    """A bad `[notify]` value; the message starts with the full key, e.g. `notify.mail.port: …`."""


@dataclass(frozen=True)
class MailSettings:
    kind: str = "directory"  # directory | smtp
    directory: str = "var/mail"
    from_addr: str = "EDI-support Region Syddanmark <edi-support@rsyd.example>"
    host: str = "127.0.0.1"
    port: int = 25
    starttls: str = "off"  # off | required
    username: str | None = None
    password_env: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Reporter:
    """Who may file incidents: an organisation's EOJ system owner or Regional IT, by token."""

    name: str
    organisation: str
    role: str  # eoj | regional-it
    tokens_sha256: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Contacts:
    edi_support_phone: str = ""
    on_call_phone: str = ""
    edi_support_email: str = ""
    duty_phones: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret_env: str | None = None


@dataclass(frozen=True)
class RuleOverrides:
    notice_threshold_minutes: int | None = None
    next_status_minutes: int | None = None


@dataclass(frozen=True)
class NotifySettings:
    public_url: str = "http://127.0.0.1:8080"
    edi_support_email: str = "edi-support@rsyd.example"
    on_call_email: str = "driftsvagt@rsyd.example"
    mail: MailSettings = field(default_factory=MailSettings)
    rules: RuleOverrides = field(default_factory=RuleOverrides)
    reporters: tuple[Reporter, ...] = ()
    contacts: Contacts = field(default_factory=Contacts)
    webhooks: tuple[Webhook, ...] = ()
    session_secret_env: str | None = None  # unset: a random secret per process (sessions end on restart)
    scheduler_max_sleep_seconds: float = 30.0
    outbox_poll_seconds: float = 1.0
    outbox_max_backoff_seconds: float = 300.0
    webhook_timeout_seconds: float = 5.0
    #: how long a sender's claim on an outbox row lasts; another sender may take the row only after it
    outbox_lease_seconds: float = 60.0
    login_max_failures: int = 5  # wrong access keys from one address before it is locked out …
    login_window_minutes: int = 15  # … counted within, and locked out for, this many minutes
    #: unauthenticated subscription requests per client address within the window; more get 429
    subscribe_max_per_client: int = 10
    subscribe_client_window_minutes: int = 10
    #: confirmation mails per target address within the window (a pending one blocks new ones as long)
    subscribe_max_per_address: int = 3
    subscribe_address_window_hours: int = 24


_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _table(raw: Any, key: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise NotifyConfigError(f"{key}: must be a table")
    return raw


def _str(
    t: Mapping[str, Any], name: str, key: str, default: str | None = None, *, required: bool = False
) -> Any:
    if name not in t:
        if required:
            raise NotifyConfigError(f"{key}.{name}: is required")
        return default
    value = t[name]
    if not isinstance(value, str):
        raise NotifyConfigError(f"{key}.{name}: must be a string")
    return value


def _email(t: Mapping[str, Any], name: str, key: str, default: str) -> str:
    """A mail address, normalised; a bad one is a config error naming the key (never the raw value)."""
    value = _str(t, name, key, default)
    if not value and not default:
        return ""
    try:
        return normalise_address(value)
    except InvalidAddress as exc:
        raise NotifyConfigError(f"{key}.{name}: must be an e-mail address ({exc})") from None


def _from_address(t: Mapping[str, Any], key: str, default: str) -> str:
    """`From:` may carry a display name ("EDI-support <edi@x.dk>"); its address part must be valid."""
    value = _str(t, "from", key, default)
    _name, addr = parseaddr(value)
    if any(ch in value for ch in "\r\n\0") or not addr:
        raise NotifyConfigError(f"{key}.from: must be an e-mail address, optionally with a name")
    try:
        normalise_address(addr)
    except InvalidAddress as exc:
        raise NotifyConfigError(f"{key}.from: must be an e-mail address ({exc})") from None
    return str(value)


def _number(t: Mapping[str, Any], name: str, key: str, default: Any, *, integer: bool = False) -> Any:
    if name not in t:
        return default
    value = t[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        raise NotifyConfigError(f"{key}.{name}: must be {'an integer' if integer else 'a number'}")
    if value <= 0:
        raise NotifyConfigError(f"{key}.{name}: must be positive")
    return value


def _unknown(t: Mapping[str, Any], known: set[str], key: str) -> None:
    for name in t:
        if name not in known:
            raise NotifyConfigError(f"{key}.{name}: unknown key")


def parse_notify_config(raw: dict[str, Any] | None, *, key_prefix: str = "notify") -> NotifySettings:
    """Build settings from the parsed TOML table; absent keys take the Region Syddanmark defaults."""
    k = key_prefix
    t = _table(raw, k)
    _unknown(
        t,
        {
            "public_url",
            "edi_support_email",
            "on_call_email",
            "mail",
            "rules",
            "reporters",
            "contacts",
            "webhooks",
            "session_secret_env",
            "scheduler_max_sleep_seconds",
            "outbox_poll_seconds",
            "outbox_max_backoff_seconds",
            "webhook_timeout_seconds",
            "outbox_lease_seconds",
            "login_max_failures",
            "login_window_minutes",
            "subscribe_max_per_client",
            "subscribe_client_window_minutes",
            "subscribe_max_per_address",
            "subscribe_address_window_hours",
        },
        k,
    )
    public_url = _str(t, "public_url", k, NotifySettings.public_url)
    if not public_url.startswith(("http://", "https://")):
        raise NotifyConfigError(f"{k}.public_url: must start with http:// or https://")
    defaults = NotifySettings()
    login_max_failures = _number(t, "login_max_failures", k, defaults.login_max_failures, integer=True)
    if login_max_failures > 100:
        raise NotifyConfigError(f"{k}.login_max_failures: must be at most 100")
    login_window_minutes = _number(t, "login_window_minutes", k, defaults.login_window_minutes, integer=True)
    if login_window_minutes > 24 * 60:
        raise NotifyConfigError(f"{k}.login_window_minutes: must be at most 1440 (one day)")
    mail = _mail(t.get("mail"), f"{k}.mail")
    webhook_timeout_seconds = float(_number(t, "webhook_timeout_seconds", k, 5.0))
    return NotifySettings(
        public_url=public_url.rstrip("/"),
        edi_support_email=_email(t, "edi_support_email", k, defaults.edi_support_email),
        on_call_email=_email(t, "on_call_email", k, defaults.on_call_email),
        mail=mail,
        rules=_rules(t.get("rules"), f"{k}.rules"),
        reporters=_reporters(t.get("reporters"), f"{k}.reporters"),
        contacts=_contacts(t.get("contacts"), f"{k}.contacts"),
        webhooks=_webhooks(t.get("webhooks"), f"{k}.webhooks"),
        session_secret_env=_str(t, "session_secret_env", k, None),
        scheduler_max_sleep_seconds=float(_number(t, "scheduler_max_sleep_seconds", k, 30.0)),
        outbox_poll_seconds=float(_number(t, "outbox_poll_seconds", k, 1.0)),
        outbox_max_backoff_seconds=float(_number(t, "outbox_max_backoff_seconds", k, 300.0)),
        webhook_timeout_seconds=webhook_timeout_seconds,
        outbox_lease_seconds=_lease_seconds(t, k, mail, webhook_timeout_seconds),
        login_max_failures=login_max_failures,
        login_window_minutes=login_window_minutes,
        **_subscribe_limits(t, k, defaults),
    )


def _subscribe_limits(t: Mapping[str, Any], k: str, d: NotifySettings) -> dict[str, int]:
    """The subscription flood limits (see notify.subscribe_guard); each a positive integer, bounded."""
    bounds = {
        "subscribe_max_per_client": 10_000,
        "subscribe_client_window_minutes": 24 * 60,
        "subscribe_max_per_address": 100,
        "subscribe_address_window_hours": 24 * 30,
    }
    out = {}
    for name, most in bounds.items():
        value = int(_number(t, name, k, getattr(d, name), integer=True))
        if value > most:
            raise NotifyConfigError(f"{k}.{name}: must be at most {most}")
        out[name] = value
    return out


#: one SMTP send waits for up to four server replies (MAIL, RCPT, DATA, end of data), each within the timeout
SMTP_REPLIES_PER_SEND = 4


def _lease_seconds(t: Mapping[str, Any], k: str, mail: MailSettings, webhook_timeout: float) -> float:
    """The outbox row lease must outlast one send, or a second sender could take a row still being sent."""
    lease = float(_number(t, "outbox_lease_seconds", k, NotifySettings.outbox_lease_seconds))
    smtp_send = SMTP_REPLIES_PER_SEND * mail.timeout_seconds
    if lease <= smtp_send:
        raise NotifyConfigError(
            f"{k}.outbox_lease_seconds: must be more than {smtp_send:g} "
            f"({SMTP_REPLIES_PER_SEND} × {k}.mail.timeout_seconds, the longest SMTP send)"
        )
    if lease <= webhook_timeout:
        raise NotifyConfigError(f"{k}.outbox_lease_seconds: must be more than {k}.webhook_timeout_seconds")
    return lease


def _mail(raw: Any, k: str) -> MailSettings:
    t = _table(raw, k)
    _unknown(
        t,
        {
            "kind",
            "directory",
            "from",
            "host",
            "port",
            "starttls",
            "username",
            "password_env",
            "timeout_seconds",
        },
        k,
    )
    d = MailSettings()
    kind = _str(t, "kind", k, d.kind)
    if kind not in ("directory", "smtp"):
        raise NotifyConfigError(f'{k}.kind: must be "directory" or "smtp", got {kind!r}')
    starttls = _str(t, "starttls", k, d.starttls)
    if starttls not in ("off", "required"):
        raise NotifyConfigError(f'{k}.starttls: must be "off" or "required", got {starttls!r}')
    port = _number(t, "port", k, d.port, integer=True)
    if port > 65535:
        raise NotifyConfigError(f"{k}.port: must be at most 65535")
    return MailSettings(
        kind=kind,
        directory=_str(t, "directory", k, d.directory),
        from_addr=_from_address(t, k, d.from_addr),
        host=_str(t, "host", k, d.host),
        port=port,
        starttls=starttls,
        username=_str(t, "username", k, None),
        password_env=_str(t, "password_env", k, None),
        timeout_seconds=float(_number(t, "timeout_seconds", k, d.timeout_seconds)),
    )


def _rules(raw: Any, k: str) -> RuleOverrides:
    t = _table(raw, k)
    _unknown(t, {"notice_threshold_minutes", "next_status_minutes"}, k)
    return RuleOverrides(
        notice_threshold_minutes=_number(t, "notice_threshold_minutes", k, None, integer=True),
        next_status_minutes=_number(t, "next_status_minutes", k, None, integer=True),
    )


def _list_of_tables(raw: Any, k: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise NotifyConfigError(f"{k}: must be an array of tables ([[{k}]])")
    return raw


def _reporters(raw: Any, k: str) -> tuple[Reporter, ...]:
    out = []
    for i, t in enumerate(_list_of_tables(raw, k)):
        ki = f"{k}[{i}]"
        _unknown(t, {"name", "organisation", "role", "tokens_sha256"}, ki)
        role = _str(t, "role", ki, required=True)
        if role not in ("eoj", "regional-it"):
            raise NotifyConfigError(f'{ki}.role: must be "eoj" or "regional-it", got {role!r}')
        tokens = t.get("tokens_sha256", [])
        if not isinstance(tokens, list) or not all(
            isinstance(x, str) and _HEX64.match(x.lower()) for x in tokens
        ):
            raise NotifyConfigError(f"{ki}.tokens_sha256: must be a list of 64-digit hex SHA-256 digests")
        out.append(
            Reporter(
                name=_str(t, "name", ki, required=True),
                organisation=_str(t, "organisation", ki, required=True),
                role=role,
                tokens_sha256=frozenset(x.lower() for x in tokens),
            )
        )
    return tuple(out)


def _contacts(raw: Any, k: str) -> Contacts:
    t = _table(raw, k)
    _unknown(t, {"edi_support_phone", "on_call_phone", "edi_support_email", "duty_phones"}, k)
    duty = _table(t.get("duty_phones"), f"{k}.duty_phones")
    for name, value in duty.items():
        if not isinstance(value, str):
            raise NotifyConfigError(f"{k}.duty_phones.{name}: must be a string")
    return Contacts(
        edi_support_phone=_str(t, "edi_support_phone", k, ""),
        on_call_phone=_str(t, "on_call_phone", k, ""),
        edi_support_email=_email(t, "edi_support_email", k, ""),
        duty_phones=dict(duty),
    )


def _webhooks(raw: Any, k: str) -> tuple[Webhook, ...]:
    out = []
    for i, t in enumerate(_list_of_tables(raw, k)):
        ki = f"{k}[{i}]"
        _unknown(t, {"url", "secret_env"}, ki)
        url = _str(t, "url", ki, required=True)
        if not url.startswith(("http://", "https://")):
            raise NotifyConfigError(f"{ki}.url: must start with http:// or https://")
        out.append(Webhook(url=url, secret_env=_str(t, "secret_env", ki, None)))
    return tuple(out)
