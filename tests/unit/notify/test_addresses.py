"""Mail addresses where they enter (issue 10, finding 1) and the subscription flood limits (finding 8).

The address check is email-validator's; these tests pin what edigate makes of it: which inputs are
refused (each class of the hostile inputs), the normalised form that is stored, the Danish message that
names the field, config errors that name the key, and the sliding windows of the subscription guard.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edigate.settings import ConfigError, parse_settings
from notify.addresses import InvalidAddress, danish_error, normalise_address, printable, smtp_recipient
from notify.config import NotifySettings
from notify.subscribe_guard import GuardSettings, SlidingWindow, SubscribeGuard, TooManyRequests

REFUSED = [
    "a\x01b@example.org",  # control character: the reported case
    "a\x00b@example.org",  # NUL
    "x@exa\nmple.org",  # line break (header / SMTP command injection)
    "a@b.dk\r\nRCPT TO:<v@x.dk>",
    "a b@example.org",  # space
    "Hanne <h@odense.example>",  # display name
    '"a b"@example.org',  # quoted local part
    "x@[127.0.0.1]",  # IP literal
    "x@localhost",  # no dot in the domain
    "x",
    "@example.org",
    "x@",
    "",
    "   ",
    "\ud800@example.org",  # lone surrogate
    "a\u202eb@example.org",  # bidi override
    "a" * 250 + "@x.dk",
    None,
    42,
    ["a@b.dk"],
]


@pytest.mark.parametrize("value", REFUSED, ids=repr)
def test_hostile_addresses_are_refused_with_a_danish_message_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidAddress) as err:
        normalise_address(value)
    text = danish_error("E-mail", err.value)
    assert text.startswith("E-mail: adressen ") and text.isprintable()
    assert str(err.value).isprintable()  # the reason never carries the raw character


@pytest.mark.parametrize(
    ("given", "stored", "envelope"),
    [
        ("hanne@odense.example", "hanne@odense.example", "hanne@odense.example"),
        ("  Hanne@Odense.EXAMPLE\t", "Hanne@odense.example", "Hanne@odense.example"),
        ("edi@ærø.dk", "edi@ærø.dk", "edi@xn--r-3fa9c.dk"),  # IDN domain, sent as punycode
        ("søren@kommune.dk", "søren@kommune.dk", "søren@kommune.dk"),  # needs SMTPUTF8
    ],
)
def test_good_addresses_are_stored_normalised(given: str, stored: str, envelope: str) -> None:
    assert normalise_address(given) == stored
    assert smtp_recipient(stored) == envelope


def test_printable_escapes_what_a_database_or_log_must_not_get() -> None:
    assert printable("a\x00b\x01c\nd\u202ee") == "a\\x00b\\x01c\\nd\\u202ee"
    assert printable("\ud800") == "\\ud800"
    assert len(printable("x" * 1000, 50)) == 50


def parse_notify_config(raw: dict) -> NotifySettings:  # type: ignore[type-arg]
    settings = parse_settings({"notify": raw})
    assert settings.notify is not None
    return settings.notify


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"edi_support_email": "a\x01b@rsyd.example"}, "notify.edi_support_email: must be an e-mail address"),
        ({"on_call_email": "vagt@localhost"}, "notify.on_call_email:"),
        ({"contacts": {"edi_support_email": "Support <s@x.dk>"}}, "notify.contacts.edi_support_email:"),
        ({"mail": {"from": "EDI <edi@x.dk>\r\nBcc: v@x.dk"}}, "notify.mail.from:"),
        ({"mail": {"from": "EDI-support"}}, "notify.mail.from:"),
        ({"subscribe_max_per_client": 0}, "notify.subscribe_max_per_client: must be positive"),
        ({"subscribe_address_window_hours": 10_000}, "notify.subscribe_address_window_hours: must be at most"),
    ],
)
def test_notify_config_addresses_are_checked_naming_the_key(raw: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ConfigError) as err:
        parse_notify_config(raw)
    assert str(err.value).startswith(key) and "\x01" not in str(err.value)


def test_notify_config_addresses_are_stored_normalised() -> None:
    s = parse_notify_config(
        {"edi_support_email": " EDI@RSYD.Example ", "mail": {"from": "EDI-support Syd <edi@rsyd.example>"}}
    )
    assert s.edi_support_email == "EDI@rsyd.example"
    assert s.mail.from_addr == "EDI-support Syd <edi@rsyd.example>"


def test_partner_mailbox_and_alert_lists_are_checked_naming_the_key() -> None:
    partner = {"ean": "5790000198764", "name": "Testkommune", "kind": "municipality", "cluster": "Fyn"}
    with pytest.raises(ConfigError, match=r"^partners\[0\]\.mailbox: must be a mail address"):
        parse_settings({"partners": [{**partner, "mailbox": "edi@test\x01kommune.dk"}]})
    s = parse_settings({"partners": [{**partner, "mailbox": "EDI@TestKommune.DK"}]})
    assert s.partners[0].mailbox == "EDI@testkommune.dk"
    with pytest.raises(ConfigError, match=r"^alerts\.on_call\[1\]: must be a mail address"):
        parse_settings({"alerts": {"edi_support": "s@x.dk", "on_call": ["v@x.dk", "v\n@x.dk"]}})
    alerts = parse_settings({"alerts": {"edi_support": " S@X.DK", "on_call": "v@x.dk"}}).alerts
    assert alerts.edi_support == ("S@x.dk",)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_sliding_window_counts_per_key_and_says_how_long_to_wait() -> None:
    clock = Clock()
    window = SlidingWindow(3, timedelta(minutes=10), clock, max_keys=2)
    for _ in range(3):
        assert window.wait_seconds("a") is None
        window.add("a")
    assert window.wait_seconds("a") == 600 and window.wait_seconds("b") is None
    clock.now += timedelta(minutes=4)
    assert window.wait_seconds("a") == 360
    clock.now += timedelta(minutes=6)
    assert window.wait_seconds("a") is None  # the oldest left the window
    window.add("b")
    window.add("c")  # a third key: the least recently seen ("a") is forgotten
    assert len(window) == 2


def test_guard_refuses_a_client_over_its_limit_and_limits_mails_per_address() -> None:
    clock = Clock()
    guard = SubscribeGuard(
        GuardSettings(max_per_client=2, client_window=timedelta(minutes=10), max_per_address=2), clock
    )
    guard.count_client("10.0.0.1")
    guard.count_client("10.0.0.1")
    with pytest.raises(TooManyRequests) as err:
        guard.count_client("10.0.0.1")
    assert err.value.retry_after == 600
    guard.count_client("10.0.0.2")  # another client is not affected
    assert guard.may_mail("Offer@x.dk")
    guard.mailed("Offer@x.dk")
    guard.mailed("offer@x.dk")  # the same address in another case
    assert not guard.may_mail("OFFER@x.dk")
    clock.now += timedelta(hours=24, seconds=1)
    assert guard.may_mail("offer@x.dk")
