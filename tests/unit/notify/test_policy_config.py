"""Issue 12 item 9: the procedure's hours and closing days are configuration, one test per key."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from edigate.settings import ConfigError, parse_settings
from notify import policy
from notify.scheduler import rules_from

CPH = ZoneInfo("Europe/Copenhagen")


def L(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CPH)


def rules(**raw: Any) -> policy.ProcedureRules:
    notify = parse_settings({"notify": {"rules": raw}}).notify
    assert notify is not None
    return rules_from(notify)


def test_defaults_are_region_syddanmarks() -> None:
    r = rules()
    assert policy.handled_by(L("2026-11-23 15:44"), r) == "edi-support"
    assert policy.handled_by(L("2026-11-27 14:00"), r) == "on-call"  # Friday after 14:00
    assert policy.handled_by(L("2026-12-24 10:00"), r) == "on-call"  # the region is closed
    assert policy.in_window(L("2026-11-23 21:59"), r) and not policy.in_window(L("2026-11-23 22:00"), r)
    assert policy.support_hours_text(r) == "man–tors 8.00–15.45, fre 8.00–14.00"
    assert policy.window_text(r) == "08.00–22.00"


def test_notice_window() -> None:
    r = rules(notice_window="07:00-23:00")
    assert policy.in_window(L("2026-11-23 22:30"), r) and not policy.in_window(L("2026-11-23 06:59"), r)
    assert policy.handled_at(L("2026-11-23 06:30"), r) == L("2026-11-23 07:00")
    assert policy.window_text(r) == "07.00–23.00"


def test_support_hours_and_on_call_outside_them() -> None:
    r = rules(support_hours={"mon": "09:00-16:00", "sat": "10:00-12:00"})
    assert policy.handled_by(L("2026-11-23 08:30"), r) == "on-call"  # before 09:00: on-call
    assert policy.handled_by(L("2026-11-23 15:50"), r) == "edi-support"
    assert policy.handled_by(L("2026-11-24 10:00"), r) == "on-call"  # Tuesday left out: closed
    assert policy.handled_by(L("2026-11-28 11:00"), r) == "edi-support"  # Saturday
    assert policy.support_hours_text(r) == "man 9.00–16.00, lør 10.00–12.00"


def test_closing_days() -> None:
    r = rules(closing_days=["12-23", "2026-11-23"])
    assert policy.handled_by(L("2026-12-23 10:00"), r) == "on-call"  # every year
    assert policy.handled_by(L("2027-12-23 10:00"), r) == "on-call"
    assert policy.handled_by(L("2026-11-23 10:00"), r) == "on-call"  # once
    assert policy.handled_by(L("2027-11-23 10:00"), r) == "edi-support"
    assert policy.handled_by(L("2026-12-24 10:00"), r) == "edi-support"  # replaced the defaults
    assert policy.handled_by(L("2026-12-25 10:00"), r) == "on-call"  # public holidays stay
    assert policy.handled_by(L("2026-12-24 10:00"), rules(closing_days=[])) == "edi-support"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"notice_window": "8-22"}, "notify.rules.notice_window:"),
        ({"notice_window": "22:00-08:00"}, "notify.rules.notice_window: must end after it starts"),
        ({"notice_window": "08:00-24:00"}, "notify.rules.notice_window:"),
        ({"support_hours": {"mon": "08:00"}}, "notify.rules.support_hours.mon:"),
        ({"support_hours": {"monday": "08:00-15:45"}}, "notify.rules.support_hours"),
        ({"support_hours": {"fri": "14:00-08:00"}}, "notify.rules.support_hours.fri:"),
        ({"closing_days": ["24-12"]}, "notify.rules.closing_days[0]:"),
        ({"closing_days": ["12-24", "2026-02-30"]}, "notify.rules.closing_days[1]:"),
        ({"closing_days": "12-24"}, "notify.rules.closing_days:"),
    ],
)
def test_bad_values_name_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        rules(**raw)
    assert str(err.value).startswith(message), str(err.value)
