"""Login throttle: N wrong keys within the window lock an address out for the window, a correct key clears
the count, other addresses are not affected, memory stays bounded; and its `[notify]` keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edigate.settings import ConfigError, parse_settings
from notify.config import NotifySettings
from notify.login_throttle import LoginThrottle, wait_text

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
A, B = "192.0.2.10", "192.0.2.20"


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def make(clock: FakeClock, **kw: object) -> LoginThrottle:
    return LoginThrottle(clock=clock, **kw)  # type: ignore[arg-type]


def fail(t: LoginThrottle, address: str, times: int) -> list[bool]:
    return [t.failed(address) for _ in range(times)]


def test_locks_after_max_failures_for_the_window() -> None:
    clock = FakeClock()
    t = make(clock)
    assert fail(t, A, 4) == [False] * 4
    assert t.retry_after(A) is None  # four wrong keys: may still try
    assert t.failed(A) is True  # the fifth starts the lock-out
    assert t.retry_after(A) == 15 * 60
    clock.advance(minutes=14, seconds=30)
    assert t.retry_after(A) == 30
    clock.advance(seconds=29, microseconds=500_000)
    assert t.retry_after(A) == 1  # rounded up, never 0
    clock.advance(seconds=1)
    assert t.retry_after(A) is None  # window passed
    assert t.failed(A) is False  # and the count starts again from zero
    assert len(t) == 1


def test_the_observer_hears_events_but_never_an_address() -> None:
    clock = FakeClock()
    heard: list[str] = []
    t = make(clock, max_failures=2, observer=heard.append)
    assert t.refuse_if_locked(A) is None
    fail(t, A, 2)
    assert t.refuse_if_locked(A) == 15 * 60
    assert t.failed(A) is False  # a wrong key while locked is refused before it is looked at
    t.succeeded(B)
    assert heard == ["wrong_key", "wrong_key", "lockout", "throttled"]
    assert t.retry_after(A) == 15 * 60 and heard[-1] == "throttled" and len(heard) == 4  # a query counts nothing


def test_a_failing_observer_does_not_decide_the_login() -> None:
    def broken(_event: str) -> None:
        raise RuntimeError("metrics away")

    t = make(FakeClock(), max_failures=1, observer=broken)
    assert t.failed(A) is True
    assert t.refuse_if_locked(A) == 15 * 60


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = FakeClock()
    t = make(clock, max_failures=3, window=timedelta(minutes=10))
    fail(t, A, 2)
    clock.advance(minutes=10)
    assert fail(t, A, 2) == [False, False]  # the first two have expired
    assert t.retry_after(A) is None
    clock.advance(minutes=9)
    assert t.failed(A) is True  # three within ten minutes
    assert t.retry_after(A) == 600


def test_success_clears_the_count_and_other_addresses_are_separate() -> None:
    clock = FakeClock()
    t = make(clock)
    fail(t, A, 4)
    t.succeeded(A)
    assert fail(t, A, 4) == [False] * 4 and t.retry_after(A) is None
    fail(t, B, 5)
    assert t.retry_after(B) == 900 and t.retry_after(A) is None
    t.succeeded("198.51.100.1")  # unknown address: nothing happens


def test_a_refused_try_does_not_extend_the_lock_out() -> None:
    clock = FakeClock()
    t = make(clock, max_failures=2)
    fail(t, A, 2)
    clock.advance(minutes=10)
    assert t.failed(A) is False  # callers check first; even so it must not restart the window
    assert t.retry_after(A) == 5 * 60


def test_clock_moved_backwards_never_locks_longer_than_the_window() -> None:
    clock = FakeClock()
    t = make(clock)
    fail(t, A, 5)
    clock.advance(hours=-3)
    assert t.retry_after(A) == 15 * 60


def test_memory_is_bounded_and_the_least_recently_seen_address_goes_first() -> None:
    clock = FakeClock()
    t = make(clock, max_failures=2, max_clients=100)
    fail(t, A, 2)  # locked, then 100 other addresses fail once each
    for i in range(100):
        t.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(t) == 100
    assert t.retry_after(A) is None  # forgotten: the oldest entry was dropped
    for i in range(10_000):
        t.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(t) == 100
    t.failed(B)
    t.failed("10.1.39.15")  # the newest of the flood stays; touching it keeps it
    t.failed(B)
    assert t.retry_after(B) == 900 and len(t) == 100


def test_default_memory_cap_is_ten_thousand() -> None:
    t = make(FakeClock())
    for i in range(12_000):
        t.failed(f"2001:db8::{i:x}")
    assert len(t) == 10_000


@pytest.mark.parametrize(
    "kw", [{"max_failures": 0}, {"window": timedelta(0)}, {"max_clients": 0}], ids=["failures", "window", "cap"]
)
def test_bad_arguments_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make(FakeClock(), **kw)


def test_wait_text_is_danish_in_whole_minutes() -> None:
    assert wait_text(900) == "For mange forkerte forsøg. Prøv igen om 15 minutter."
    assert wait_text(61) == "For mange forkerte forsøg. Prøv igen om 2 minutter."
    assert wait_text(60) == wait_text(1) == "For mange forkerte forsøg. Prøv igen om 1 minut."


def parse_notify_config(raw: dict[str, object] | None) -> NotifySettings:
    settings = parse_settings({"notify": raw or {}})
    assert settings.notify is not None
    return settings.notify


def test_config_defaults_and_overrides() -> None:
    s = parse_notify_config(None)
    assert (s.login_max_failures, s.login_window_minutes) == (5, 15)
    s = parse_notify_config({"login_max_failures": 3, "login_window_minutes": 60})
    assert (s.login_max_failures, s.login_window_minutes) == (3, 60)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"login_max_failures": 0}, "notify.login_max_failures: must be positive"),
        ({"login_max_failures": -1}, "notify.login_max_failures: must be positive"),
        ({"login_max_failures": 2.5}, "notify.login_max_failures: must be an integer"),
        ({"login_max_failures": "5"}, "notify.login_max_failures: must be an integer"),
        ({"login_max_failures": True}, "notify.login_max_failures: must be an integer"),
        ({"login_max_failures": 101}, "notify.login_max_failures: must be at most 100"),
        ({"login_window_minutes": 0}, "notify.login_window_minutes: must be positive"),
        ({"login_window_minutes": 15.0}, "notify.login_window_minutes: must be an integer"),
        ({"login_window_minutes": 10**12}, "notify.login_window_minutes: must be at most 1440"),
    ],
)
def test_config_errors_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_notify_config(raw)
    assert str(err.value).startswith(message)
