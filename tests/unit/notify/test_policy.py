"""The outage procedure's rules: window, support hours, holidays, DST, the 2-hour threshold and `plan`.

Every expected value is a concrete local time worked out by hand from the procedure text
(../shared/seeds/outage-procedure.da.txt) and the product decisions in DOMAIN.md §1.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.policy import (
    ProcedureRules,
    downtime,
    handled_at,
    handled_by,
    in_window,
    next_in_window,
    next_status_at,
    plan,
    to_local,
)

CPH = ZoneInfo("Europe/Copenhagen")


def L(text: str) -> datetime:
    """A local Copenhagen time from 'YYYY-MM-DD HH:MM' (an offset may be appended)."""
    value = datetime.fromisoformat(text)
    return value.astimezone(CPH) if value.tzinfo else value.replace(tzinfo=CPH)


def same_instant(a: datetime | None, b: datetime) -> bool:
    """Equal as instants AND both shown with the same local offset."""
    assert a is not None
    return a.astimezone(UTC) == b.astimezone(UTC) and a.utcoffset() == b.utcoffset()


# 2026-11-23 is a Monday; 2026-11-27 a Friday; 2026-11-28/29 the weekend.


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("2026-11-23 07:59", "2026-11-23 08:00"),
        ("2026-11-23 08:00", "2026-11-23 08:00"),
        ("2026-11-23 21:59", "2026-11-23 21:59"),
        ("2026-11-23 22:00", "2026-11-24 08:00"),
        ("2026-11-23 23:30", "2026-11-24 08:00"),
        ("2026-11-23 03:00", "2026-11-23 08:00"),  # "after 22:00" = outside [08:00, 22:00): same morning
        ("2026-11-23 00:00", "2026-11-23 08:00"),
        ("2026-11-28 23:59", "2026-11-29 08:00"),  # the window is every day, weekends too
        ("2026-12-31 22:30", "2027-01-01 08:00"),  # across the year
    ],
)
def test_handled_at_window_edges(reported: str, expected: str) -> None:
    result = handled_at(L(reported))
    assert same_instant(result, L(expected))
    assert result.tzinfo is not None and result.utcoffset() == L(expected).utcoffset()


@pytest.mark.parametrize(
    ("t", "inside"),
    [
        ("2026-11-23 07:59", False),
        ("2026-11-23 08:00", True),
        ("2026-11-23 21:59", True),
        ("2026-11-23 22:00", False),
        ("2026-11-23 23:30", False),
        ("2026-11-23 03:00", False),
    ],
)
def test_in_window_edges(t: str, inside: bool) -> None:
    assert in_window(L(t)) is inside
    assert in_window(datetime.fromisoformat(t)) is inside  # naive = local


def test_next_in_window_seconds_before_eight() -> None:
    assert same_instant(next_in_window(L("2026-11-23 07:59:59")), L("2026-11-23 08:00"))
    assert same_instant(next_in_window(L("2026-11-23 21:59:59")), L("2026-11-23 21:59:59"))


@pytest.mark.parametrize(
    ("t", "handler"),
    [
        ("2026-11-23 07:59", "on-call"),  # Monday before opening
        ("2026-11-23 08:00", "edi-support"),
        ("2026-11-23 15:44", "edi-support"),
        ("2026-11-23 15:45", "on-call"),
        ("2026-11-24 15:44", "edi-support"),  # Tuesday
        ("2026-11-24 15:45", "on-call"),
        ("2026-11-25 15:44", "edi-support"),  # Wednesday
        ("2026-11-25 15:45", "on-call"),
        ("2026-11-26 15:44", "edi-support"),  # Thursday
        ("2026-11-26 15:45", "on-call"),
        ("2026-11-27 08:00", "edi-support"),  # Friday
        ("2026-11-27 13:59", "edi-support"),
        ("2026-11-27 14:00", "on-call"),
        ("2026-11-27 15:00", "on-call"),
        ("2026-11-23 21:59", "on-call"),
        ("2026-11-28 10:00", "on-call"),  # Saturday
        ("2026-11-29 10:00", "on-call"),  # Sunday
        ("2026-12-25 10:00", "on-call"),  # Juledag 2026, a Friday
        ("2026-12-24 10:00", "on-call"),  # Juleaftensdag: no public holiday, but the region is closed
        ("2026-12-31 10:00", "on-call"),  # Nytårsaftensdag: likewise
        ("2026-12-23 10:00", "edi-support"),
        ("2026-04-03 10:00", "on-call"),  # Langfredag 2026
        ("2026-04-02 10:00", "on-call"),  # Skærtorsdag 2026
        ("2026-04-06 10:00", "on-call"),  # 2. påskedag 2026
        ("2026-05-14 10:00", "on-call"),  # Kristi himmelfartsdag 2026, a Thursday
        ("2026-05-13 10:00", "edi-support"),  # the Wednesday before
        ("2027-03-26 10:00", "on-call"),  # Langfredag 2027
        ("2027-05-06 10:00", "on-call"),  # Kristi himmelfartsdag 2027
        ("2026-05-25 10:00", "on-call"),  # 2. pinsedag 2026
        (
            "2026-05-01 10:00",
            "edi-support",
        ),  # Store bededag was abolished from 2024 (and 1 May is no holiday)
    ],
)
def test_handled_by_support_hours_weekend_and_holidays(t: str, handler: str) -> None:
    assert handled_by(L(t)) == handler


def test_handled_by_for_a_report_uses_when_it_is_handled() -> None:
    # Sunday 23:30 is handled Monday 08:00 by EDI support; Christmas Eve 23:00 on Juledag by on-call.
    assert handled_by(handled_at(L("2026-11-22 23:30"))) == "edi-support"
    assert handled_by(handled_at(L("2026-12-24 23:00"))) == "on-call"


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        ("2026-11-23 10:00", "2026-11-23 12:00", 120),
        # spring forward 2026-03-29 02:00 -> 03:00: 01:00 -> 04:00 local is 2 h of real time, not 3
        ("2026-03-29 01:00", "2026-03-29 04:00", 120),
        ("2026-03-29 01:00", "2026-03-29 04:01", 121),
        # fall back 2026-10-25 03:00 -> 02:00: 01:00 (+02:00) -> 03:00 (+01:00) is 3 h, not 2
        ("2026-10-25 01:00+02:00", "2026-10-25 03:00+01:00", 180),
        # the repeated hour: 02:30 summer time -> 02:30 winter time is one hour
        ("2026-10-25 02:30+02:00", "2026-10-25 02:30+01:00", 60),
        ("2026-11-23T09:00Z", "2026-11-23 12:00", 120),  # UTC and local mixed
    ],
)
def test_downtime_is_real_elapsed_time(start: str, end: str, minutes: int) -> None:
    assert downtime(L(start), L(end)) == timedelta(minutes=minutes)


def test_downtime_with_same_zone_wall_clock_trap() -> None:
    # Both in the same ZoneInfo: Python's own subtraction would say 2 h (wall clock); downtime says 3 h.
    start = datetime(2026, 10, 25, 1, 0, tzinfo=CPH)
    end = datetime(2026, 10, 25, 3, 0, tzinfo=CPH)
    assert end - start == timedelta(hours=2)
    assert downtime(start, end) == timedelta(hours=3)


@pytest.mark.parametrize(
    ("utc", "local_handled"),
    [
        ("2026-11-23T06:59Z", "2026-11-23 08:00"),  # 07:59 CET
        ("2026-11-23T07:00Z", "2026-11-23 08:00"),  # 08:00 CET
        ("2026-06-15T05:59Z", "2026-06-15 08:00"),  # 07:59 CEST
        ("2026-06-15T06:00Z", "2026-06-15 08:00"),  # 08:00 CEST
        ("2026-06-15T19:59Z", "2026-06-15 21:59"),  # 21:59 CEST
        ("2026-06-15T20:00Z", "2026-06-16 08:00"),  # 22:00 CEST
    ],
)
def test_utc_input(utc: str, local_handled: str) -> None:
    assert same_instant(handled_at(datetime.fromisoformat(utc)), L(local_handled))


@pytest.mark.parametrize(
    ("notice", "next_status"),
    [
        ("2026-11-23 10:00", "2026-11-23 12:00"),
        ("2026-11-23 19:59", "2026-11-23 21:59"),
        ("2026-11-23 20:00", "2026-11-24 08:00"),  # 22:00 is outside the window
        ("2026-11-23 21:00", "2026-11-24 08:00"),  # not 23:00
        ("2026-11-23 21:59", "2026-11-24 08:00"),
        ("2026-03-28 21:00", "2026-03-29 08:00+02:00"),  # into summer time
        ("2026-03-29 00:30", "2026-03-29 08:00+02:00"),  # 00:30 CET + 2 h = 03:30 CEST, before 08:00
    ],
)
def test_next_status_at(notice: str, next_status: str) -> None:
    assert same_instant(next_status_at(L(notice)), L(next_status))


def test_to_local_naive_is_local_and_gap_moves_forward() -> None:
    assert to_local(datetime(2026, 11, 23, 8, 0)).utcoffset() == timedelta(hours=1)
    assert to_local(datetime(2026, 6, 23, 8, 0)).utcoffset() == timedelta(hours=2)
    # 02:30 does not exist on 2026-03-29; it is read with the offset before the change -> 03:30 CEST
    gap = to_local(datetime(2026, 3, 29, 2, 30))
    assert (gap.hour, gap.minute, gap.utcoffset()) == (3, 30, timedelta(hours=2))


def test_rules_are_configurable() -> None:
    rules = ProcedureRules(
        notice_threshold=timedelta(hours=1),
        window_start=time(7, 0),
        window_end=time(23, 0),
        next_status_interval=timedelta(hours=1),
        support_hours={5: (time(9, 0), time(12, 0))},  # Saturdays only
    )
    assert same_instant(handled_at(L("2026-11-23 06:30"), rules), L("2026-11-23 07:00"))
    assert in_window(L("2026-11-23 22:30"), rules)
    assert handled_by(L("2026-11-28 10:00"), rules) == "edi-support"
    assert handled_by(L("2026-11-23 10:00"), rules) == "on-call"
    assert same_instant(next_status_at(L("2026-11-23 21:30"), rules), L("2026-11-23 22:30"))
    assert plan("acute", L("2026-11-23 10:00"), L("2026-11-23 11:01"), rules=rules).notify


# --- plan ------------------------------------------------------------------------------------------------

# (kind, reported_at, start, expected_end, notify, handled_at, handled_by, first_notice_at, minutes)
# The same rows are the worked examples in docs/outage-procedure.md.
PLAN_CASES = [
    (
        "acute",
        "2026-11-23 10:00",
        None,
        "2026-11-23 12:00",
        False,
        "2026-11-23 10:00",
        "edi-support",
        None,
        120,
    ),
    (
        "acute",
        "2026-11-23 10:00",
        None,
        "2026-11-23 12:01",
        True,
        "2026-11-23 10:00",
        "edi-support",
        "2026-11-23 10:00",
        121,
    ),
    (
        "acute",
        "2026-11-23 03:00",
        None,
        "2026-11-23 04:00",
        False,
        "2026-11-23 08:00",
        "edi-support",
        None,
        60,
    ),
    (
        "acute",
        "2026-11-22 23:30",
        None,
        "2026-11-23 03:00",
        True,
        "2026-11-23 08:00",
        "edi-support",
        "2026-11-23 08:00",
        210,
    ),
    (
        "acute",
        "2026-11-27 14:00",
        None,
        "2026-11-27 17:00",
        True,
        "2026-11-27 14:00",
        "on-call",
        "2026-11-27 14:00",
        180,
    ),
    (
        "planned",
        "2026-11-26 15:44",
        "2026-11-28 06:00",
        "2026-11-28 10:00",
        True,
        "2026-11-26 15:44",
        "edi-support",
        "2026-11-26 15:44",
        240,
    ),
    (
        "planned",
        "2026-11-27 22:15",
        "2026-11-29 06:00",
        "2026-11-29 09:00",
        True,
        "2026-11-28 08:00",
        "on-call",
        "2026-11-28 08:00",
        180,
    ),
    (
        "planned",
        "2026-11-23 10:00",
        "2026-11-24 06:00",
        "2026-11-24 08:00",
        False,
        "2026-11-23 10:00",
        "edi-support",
        None,
        120,
    ),
    (
        "acute",
        "2026-04-03 10:00",
        None,
        "2026-04-03 13:00",
        True,
        "2026-04-03 10:00",
        "on-call",
        "2026-04-03 10:00",
        180,
    ),
    (
        "acute",
        "2026-12-24 23:00",
        None,
        "2026-12-25 09:00",
        True,
        "2026-12-25 08:00",
        "on-call",
        "2026-12-25 08:00",
        600,
    ),
    (
        "acute",
        "2026-03-29 01:00",
        None,
        "2026-03-29 04:00",
        False,
        "2026-03-29 08:00+02:00",
        "on-call",
        None,
        120,
    ),
    (
        "acute",
        "2026-10-25 01:00+02:00",
        None,
        "2026-10-25 03:00+01:00",
        True,
        "2026-10-25 08:00+01:00",
        "on-call",
        "2026-10-25 08:00+01:00",
        180,
    ),
    (
        "acute",
        "2026-11-23T06:59Z",
        None,
        "2026-11-23T10:00Z",
        True,
        "2026-11-23 08:00",
        "edi-support",
        "2026-11-23 08:00",
        181,
    ),
]


@pytest.mark.parametrize(
    ("kind", "reported", "start", "end", "notify", "handled", "by", "first", "minutes"), PLAN_CASES
)
def test_plan(
    kind: str,
    reported: str,
    start: str | None,
    end: str,
    notify: bool,
    handled: str,
    by: str,
    first: str | None,
    minutes: int,
) -> None:
    result = plan(kind, L(reported), L(end), start=None if start is None else L(start))  # type: ignore[arg-type]
    assert result.notify is notify
    assert same_instant(result.handled_at, L(handled))
    assert result.handled_by == by
    if first is None:
        assert result.first_notice_at is None
    else:
        assert same_instant(result.first_notice_at, L(first))
    assert result.downtime_minutes == minutes
    assert result.reason.endswith(".") and "\n" not in result.reason


def test_plan_acute_under_threshold_explains_the_overrun() -> None:
    night = plan("acute", L("2026-11-23 03:00"), L("2026-11-23 04:00"))
    assert "2026-11-23 05:00 CET" in night.reason  # start + 2 h
    assert "first notice goes out at 2026-11-23 08:00 CET" in night.reason  # moved into the window
    day = plan("acute", L("2026-11-23 10:00"), L("2026-11-23 12:00"))
    assert "2026-11-23 12:00 CET" in day.reason and "out at 2026-11-23 12:00 CET" in day.reason


def test_plan_exactly_two_hours_is_no_notice_two_hours_one_minute_is() -> None:
    assert not plan("planned", L("2026-11-23 10:00"), L("2026-11-23 14:00"), start=L("2026-11-23 12:00")).notify
    assert plan("planned", L("2026-11-23 10:00"), L("2026-11-23 14:01"), start=L("2026-11-23 12:00")).notify
    assert not plan("acute", L("2026-11-23 10:00"), L("2026-11-23 12:00")).notify
    assert plan("acute", L("2026-11-23 10:00"), L("2026-11-23 12:00:01")).notify


def test_plan_acute_reported_after_it_has_already_run_over() -> None:
    # Started 05:00, reported 09:00, still down: more than 2 h have already passed, so a notice goes out.
    result = plan("acute", L("2026-11-23 09:00"), L("2026-11-23 07:00"), start=L("2026-11-23 05:00"))
    assert result.notify
    assert same_instant(result.first_notice_at, L("2026-11-23 09:00"))


def test_plan_rejects_end_before_start() -> None:
    with pytest.raises(ValueError, match="before the start"):
        plan("acute", L("2026-11-23 10:00"), L("2026-11-23 09:59"))
