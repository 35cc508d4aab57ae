"""`[notify]` parsing: defaults, and errors that name the full key (through the gateway's Settings, which
composes notify's section model)."""

from __future__ import annotations

import pytest

from edigate.settings import ConfigError, parse_settings
from notify.config import NotifySettings


def parse_notify_config(raw: dict | None) -> NotifySettings:  # type: ignore[type-arg]
    settings = parse_settings({"notify": raw or {}})
    assert settings.notify is not None
    return settings.notify


def test_defaults() -> None:
    s = parse_notify_config(None)
    assert s.mail.kind == "directory" and s.on_call_email == "driftsvagt@rsyd.example"
    assert s.outbox_lease_seconds == 60.0
    assert parse_notify_config({"outbox_lease_seconds": 90}).outbox_lease_seconds == 90.0


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"mail": {"port": "25"}}, "notify.mail.port: must be an integer"),
        ({"mail": {"kind": "pigeon"}}, "notify.mail.kind:"),
        ({"mail": {"starttls": "maybe"}}, "notify.mail.starttls:"),
        ({"edi_support_email": "nope"}, "notify.edi_support_email:"),
        ({"rules": {"notice_threshold_minutes": 0}}, "notify.rules.notice_threshold_minutes:"),
        ({"reporters": [{"name": "x", "organisation": "1", "role": "boss"}]}, "notify.reporters[0].role:"),
        (
            {"reporters": [{"name": "x", "organisation": "1", "role": "eoj", "tokens_sha256": ["abc"]}]},
            "notify.reporters[0].tokens_sha256:",
        ),
        ({"webhooks": [{"url": "ftp://x"}]}, "notify.webhooks[0].url:"),
        ({"contacts": {"duty_phones": {"Odense": 1}}}, "notify.contacts.duty_phones.Odense:"),
        ({"colour": "blue"}, "notify.colour: unknown key"),
        ({"outbox_lease_seconds": 0}, "notify.outbox_lease_seconds: must be positive"),
        ({"outbox_lease_seconds": "60"}, "notify.outbox_lease_seconds: must be a number"),
        ({"outbox_lease_seconds": 40}, "notify.outbox_lease_seconds: must be more than 40"),  # 4 × 10 s
        ({"mail": {"kind": "smtp", "port": 0}}, "notify.mail.port: must be positive"),
        ({"public_url": "ftp://x"}, "notify.public_url: must start with http"),
        ({"outbox_lease_seconds": 50, "mail": {"timeout_seconds": 15}}, "notify.outbox_lease_seconds:"),
        ({"outbox_lease_seconds": 45, "webhook_timeout_seconds": 45}, "notify.outbox_lease_seconds:"),
    ],
)
def test_errors_name_the_key(raw: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        parse_notify_config(raw)
    assert str(err.value).startswith(key)


def test_rule_overrides() -> None:
    s = parse_notify_config({"rules": {"notice_threshold_minutes": 90, "next_status_minutes": 60}})
    assert s.rules.notice_threshold_minutes == 90 and s.rules.next_status_minutes == 60
