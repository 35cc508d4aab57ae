"""`decide`: what the scheduler sends for a running incident, and when it looks again.

Each case states the incident's facts and `now` and checks the notice, the promised next status, the
reminder and `wake_at` as concrete local times. 2026-11-23 is a Monday.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notify.policy import Decision, IncidentFacts, SentNotice, decide, overrun_at, plan

CPH = ZoneInfo("Europe/Copenhagen")


def L(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.astimezone(CPH) if value.tzinfo else value.replace(tzinfo=CPH)


def incident(
    reported: str,
    end: str,
    *,
    kind: str = "acute",
    start: str | None = None,
    resolved: str | None = None,
    updated: str | None = None,
    notices: tuple[tuple[str, str, str | None], ...] = (),
    reminded: str | None = None,
    confirmed: bool = True,
) -> IncidentFacts:
    return IncidentFacts(
        kind=kind,  # type: ignore[arg-type]
        confirmed=confirmed,
        reported_at=L(reported),
        start=L(start or reported),
        expected_end=L(end),
        resolved_at=None if resolved is None else L(resolved),
        last_update_at=None if updated is None else L(updated),
        notices=tuple(SentNotice(L(at), k, None if ns is None else L(ns)) for at, k, ns in notices),
        last_reminder_at=None if reminded is None else L(reminded),
    )


def check(
    decision: Decision,
    notice: str | None,
    next_status: str | None = None,
    wake: str | None = None,
    remind: bool = False,
) -> None:
    assert decision.notice == notice, decision.reason
    assert decision.remind_on_duty is remind, decision.reason
    for got, want in ((decision.notice_next_status_at, next_status), (decision.wake_at, wake)):
        if want is None:
            assert got is None, decision.reason
        else:
            assert got is not None, decision.reason
            assert got.astimezone(UTC) == L(want).astimezone(UTC), decision.reason
            assert got.utcoffset() == L(want).utcoffset()  # shown in local time
    assert decision.reason.endswith(".")


def test_draft_does_nothing() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 18:00", confirmed=False)
    check(decide(facts, L("2026-11-23 10:00")), None)
    check(decide(facts, L("2026-11-23 15:00")), None)
    check(decide(replace(facts, resolved_at=L("2026-11-23 16:00")), L("2026-11-23 16:00")), None)


@pytest.mark.parametrize(
    ("end", "now", "notice", "next_status", "wake"),
    [
        # exactly 2 h: no notice yet; wake at the overrun moment start + 2 h
        ("2026-11-23 12:00", "2026-11-23 10:00", None, None, "2026-11-23 12:00"),
        # 2 h + 1 min: the first notice at once, promising the next status 2 h later
        ("2026-11-23 12:01", "2026-11-23 10:00", "first", "2026-11-23 12:00", "2026-11-23 12:00"),
        # the scheduler came a little late: still first, next status from the actual send time
        ("2026-11-23 12:01", "2026-11-23 10:07", "first", "2026-11-23 12:07", "2026-11-23 12:07"),
    ],
)
def test_first_notice_and_the_two_hour_edge(
    end: str, now: str, notice: str | None, next_status: str | None, wake: str
) -> None:
    check(decide(incident("2026-11-23 10:00", end), L(now)), notice, next_status, wake)


@pytest.mark.parametrize(
    ("now", "notice", "next_status", "wake"),
    [
        ("2026-11-23 10:00", None, None, "2026-11-23 12:00"),
        ("2026-11-23 11:59", None, None, "2026-11-23 12:00"),
        ("2026-11-23 12:00", "first", "2026-11-23 14:00", "2026-11-23 14:00"),  # overrun: first notice now
    ],
)
def test_overrun_in_the_day(now: str, notice: str | None, next_status: str | None, wake: str) -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 11:00")  # estimate 1 h
    check(decide(facts, L(now)), notice, next_status, wake)


@pytest.mark.parametrize(
    ("now", "notice", "next_status", "wake"),
    [
        ("2026-11-23 21:00", None, None, "2026-11-24 08:00"),  # the overrun at 23:00 falls outside the window
        ("2026-11-23 23:00", None, None, "2026-11-24 08:00"),
        ("2026-11-24 03:00", None, None, "2026-11-24 08:00"),
        ("2026-11-24 08:00", "first", "2026-11-24 10:00", "2026-11-24 10:00"),
    ],
)
def test_overrun_at_night_waits_for_eight(now: str, notice: str | None, next_status: str | None, wake: str) -> None:
    facts = incident("2026-11-23 21:00", "2026-11-23 22:00")
    check(decide(facts, L(now)), notice, next_status, wake)


def test_resolved_before_the_overrun_sends_nothing() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 11:00", resolved="2026-11-23 11:59", updated="2026-11-23 11:59")
    check(decide(facts, L("2026-11-23 11:59")), None)
    check(decide(facts, L("2026-11-23 12:00")), None)


def test_planned_shutdowns_do_not_overrun_trigger() -> None:
    facts = incident("2026-11-23 09:00", "2026-11-23 11:30", kind="planned", start="2026-11-23 10:00")
    check(decide(facts, L("2026-11-23 09:00")), None)
    check(decide(facts, L("2026-11-23 15:00")), None)


def test_revised_estimate_crossing_two_hours() -> None:
    original = incident("2026-11-23 10:00", "2026-11-23 11:00")
    check(decide(original, L("2026-11-23 10:15")), None, wake="2026-11-23 12:00")
    revised = replace(original, expected_end=L("2026-11-23 13:00"), last_update_at=L("2026-11-23 10:30"))
    check(decide(revised, L("2026-11-23 10:30")), "first", "2026-11-23 12:30", "2026-11-23 12:30")


def test_revised_estimate_crossing_two_hours_in_the_evening() -> None:
    original = incident("2026-11-23 21:30", "2026-11-23 22:30")
    inside = replace(original, expected_end=L("2026-11-24 01:00"), last_update_at=L("2026-11-23 21:45"))
    check(decide(inside, L("2026-11-23 21:45")), "first", "2026-11-24 08:00", "2026-11-24 08:00")
    outside = replace(original, expected_end=L("2026-11-24 02:00"), last_update_at=L("2026-11-23 22:30"))
    check(decide(outside, L("2026-11-23 22:30")), None, wake="2026-11-24 08:00")
    check(decide(outside, L("2026-11-24 08:00")), "first", "2026-11-24 10:00", "2026-11-24 10:00")


def test_first_notice_waits_for_the_window_even_if_the_scheduler_is_late() -> None:
    facts = incident("2026-11-23 21:50", "2026-11-24 03:00")  # due 21:50, but evaluated at 22:01
    check(decide(facts, L("2026-11-23 22:01")), None, wake="2026-11-24 08:00")


@pytest.mark.parametrize(
    ("now", "notice", "wake"),
    [
        ("2026-11-23 23:00", None, "2026-11-24 08:00"),
        ("2026-11-24 01:00", None, "2026-11-24 08:00"),  # the overrun moment: still waits
    ],
)
def test_overnight_collapse_nothing_before_eight(now: str, notice: str | None, wake: str) -> None:
    facts = incident("2026-11-23 23:00", "2026-11-24 00:00")
    check(decide(facts, L(now)), notice, wake=wake)


@pytest.mark.parametrize("estimate_end", ["2026-11-24 00:00", "2026-11-24 05:00"])
def test_overnight_collapse_one_combined_notice_at_eight(estimate_end: str) -> None:
    resolved = incident("2026-11-23 23:00", estimate_end, resolved="2026-11-24 04:00", updated="2026-11-24 04:00")
    check(decide(resolved, L("2026-11-24 04:00")), None, wake="2026-11-24 08:00")
    check(decide(resolved, L("2026-11-24 07:59")), None, wake="2026-11-24 08:00")
    check(decide(resolved, L("2026-11-24 08:00")), "combined")
    after = replace(resolved, notices=(SentNotice(L("2026-11-24 08:00"), "combined", None),))
    check(decide(after, L("2026-11-24 08:01")), None)
    check(decide(after, L("2026-11-24 12:00")), None)


def test_overnight_resolved_within_two_hours_sends_nothing() -> None:
    # Estimated 3 h, but resolved after 1 h 30 min before anyone was told: the newest state is under 2 h.
    facts = incident("2026-11-23 23:00", "2026-11-24 02:00", resolved="2026-11-24 00:30")
    check(decide(facts, L("2026-11-24 00:30")), None)
    check(decide(facts, L("2026-11-24 08:00")), None)


def test_overnight_planned_shutdown_collapses_too() -> None:
    facts = incident(
        "2026-11-23 22:30",
        "2026-11-24 02:00",
        kind="planned",
        start="2026-11-23 23:00",
        resolved="2026-11-24 02:00",
    )
    check(decide(facts, L("2026-11-24 02:00")), None, wake="2026-11-24 08:00")
    check(decide(facts, L("2026-11-24 08:00")), "combined")
    # announced as 1 h 30 min but ran 3 h: planned shutdowns do not overrun-trigger
    short = replace(facts, expected_end=L("2026-11-24 00:30"))
    check(decide(short, L("2026-11-24 08:00")), None)


def test_combined_catches_up_if_nothing_went_out_in_the_day() -> None:
    # Warranted at 10:00 but the scheduler never sent; resolved 13:00 -> one combined notice at once.
    facts = incident("2026-11-23 10:00", "2026-11-23 13:00", resolved="2026-11-23 13:00")
    check(decide(facts, L("2026-11-23 13:05")), "combined")


def test_planned_is_announced_when_handled_not_at_shutdown_start() -> None:
    facts = incident("2026-11-27 14:00", "2026-11-28 10:00", kind="planned", start="2026-11-28 06:00")
    # announced Friday 14:00; the next status is counted from the shutdown's start (06:00 + 2 h), so the
    # person on duty is not overdue on Friday afternoon
    check(decide(facts, L("2026-11-27 14:00")), "first", "2026-11-28 08:00", "2026-11-28 08:00")
    sent = replace(facts, notices=(SentNotice(L("2026-11-27 14:00"), "first", L("2026-11-28 08:00")),))
    check(decide(sent, L("2026-11-27 18:00")), None, wake="2026-11-28 08:00")
    night = replace(facts, reported_at=L("2026-11-27 23:00"))  # handled Saturday 08:00, after the start
    check(decide(night, L("2026-11-27 23:00")), None, wake="2026-11-28 08:00")
    check(decide(night, L("2026-11-28 08:00")), "first", "2026-11-28 10:00", "2026-11-28 10:00")


FIRST_AT_10 = (("2026-11-23 10:00", "first", "2026-11-23 12:00"),)


def test_update_goes_out_at_once_in_the_window() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 16:00", notices=FIRST_AT_10, updated="2026-11-23 11:00")
    check(decide(facts, L("2026-11-23 11:00")), "update", "2026-11-23 13:00", "2026-11-23 13:00")


def test_no_update_without_a_handler_update() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 16:00", notices=FIRST_AT_10, updated="2026-11-23 09:59")
    check(decide(facts, L("2026-11-23 11:00")), None, wake="2026-11-23 12:00")


def test_update_at_night_waits_and_only_the_newest_goes_out() -> None:
    notices = (("2026-11-23 21:00", "first", "2026-11-24 08:00"),)
    facts = incident("2026-11-23 21:00", "2026-11-24 06:00", notices=notices, updated="2026-11-23 23:00")
    check(decide(facts, L("2026-11-23 23:00")), None, wake="2026-11-24 08:00")
    later = replace(facts, last_update_at=L("2026-11-24 03:00"), expected_end=L("2026-11-24 11:00"))
    check(decide(later, L("2026-11-24 03:00")), None, wake="2026-11-24 08:00")
    # at 08:00: one update (the handler did update, so no reminder for the 08:00 promise)
    check(decide(later, L("2026-11-24 08:00")), "update", "2026-11-24 10:00", "2026-11-24 10:00")
    sent = replace(later, notices=(*later.notices, SentNotice(L("2026-11-24 08:00"), "update", L("2026-11-24 10:00"))))
    check(decide(sent, L("2026-11-24 08:00")), None, wake="2026-11-24 10:00")


def test_reminder_when_the_next_status_is_overdue() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 16:00", notices=FIRST_AT_10)
    check(decide(facts, L("2026-11-23 11:59")), None, wake="2026-11-23 12:00")
    check(decide(facts, L("2026-11-23 12:00")), None, remind=True)  # the lists get nothing
    reminded = replace(facts, last_reminder_at=L("2026-11-23 12:00"))
    check(decide(reminded, L("2026-11-23 12:05")), None)
    check(decide(reminded, L("2026-11-23 18:00")), None)


def test_reminders_go_out_at_any_hour() -> None:
    notices = (("2026-11-23 19:59", "first", "2026-11-23 21:59"),)
    facts = incident("2026-11-23 19:59", "2026-11-24 06:00", notices=notices)
    check(decide(facts, L("2026-11-23 22:30")), None, remind=True)


def test_reminder_at_eight_for_a_promise_made_at_21() -> None:
    notices = (("2026-11-23 21:00", "first", "2026-11-24 08:00"),)
    facts = incident("2026-11-23 21:00", "2026-11-24 06:00", notices=notices)
    check(decide(facts, L("2026-11-23 23:00")), None, wake="2026-11-24 08:00")
    check(decide(facts, L("2026-11-24 08:00")), None, remind=True)


def test_a_new_promise_gets_its_own_reminder() -> None:
    notices = (*FIRST_AT_10, ("2026-11-23 13:00", "update", "2026-11-23 15:00"))
    facts = incident(
        "2026-11-23 10:00",
        "2026-11-23 18:00",
        notices=notices,
        updated="2026-11-23 12:30",
        reminded="2026-11-23 12:00",
    )
    check(decide(facts, L("2026-11-23 14:00")), None, wake="2026-11-23 15:00")
    check(decide(facts, L("2026-11-23 15:00")), None, remind=True)


def test_no_reminder_once_resolved() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 16:00", notices=FIRST_AT_10, resolved="2026-11-23 11:00")
    decision = decide(facts, L("2026-11-23 12:30"))
    assert not decision.remind_on_duty
    assert decision.notice == "resolved"


def test_resolved_after_a_notice() -> None:
    facts = incident(
        "2026-11-23 10:00",
        "2026-11-23 16:00",
        notices=FIRST_AT_10,
        resolved="2026-11-23 11:30",
        updated="2026-11-23 11:30",
    )
    check(decide(facts, L("2026-11-23 11:30")), "resolved")
    done = replace(facts, notices=(*facts.notices, SentNotice(L("2026-11-23 11:30"), "resolved", None)))
    check(decide(done, L("2026-11-23 11:31")), None)


def test_resolved_at_night_after_a_notice_waits_for_eight() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 16:00", notices=FIRST_AT_10, resolved="2026-11-23 22:30")
    check(decide(facts, L("2026-11-23 22:30")), None, wake="2026-11-24 08:00")
    check(decide(facts, L("2026-11-24 08:00")), "resolved")


def test_resolved_without_a_notice_sends_nothing() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 11:00", resolved="2026-11-23 11:00")
    check(decide(facts, L("2026-11-23 11:00")), None)


def test_resolved_in_the_future_is_not_resolved_yet() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-23 11:00", resolved="2026-11-23 11:30")
    check(decide(facts, L("2026-11-23 10:00")), None, wake="2026-11-23 11:30")


def test_naive_and_utc_inputs_give_the_same_decision() -> None:
    local = incident("2026-11-23 21:00", "2026-11-23 22:00")
    naive = replace(
        local,
        reported_at=datetime(2026, 11, 23, 21, 0),
        start=datetime(2026, 11, 23, 21, 0),
        expected_end=datetime(2026, 11, 23, 22, 0),
    )
    utc = replace(
        local,
        reported_at=datetime(2026, 11, 23, 20, 0, tzinfo=UTC),
        start=datetime(2026, 11, 23, 20, 0, tzinfo=UTC),
        expected_end=datetime(2026, 11, 23, 21, 0, tzinfo=UTC),
    )
    for facts in (local, naive, utc):
        check(decide(facts, datetime(2026, 11, 23, 22, 0, tzinfo=UTC)), None, wake="2026-11-24 08:00")


def test_overrun_across_the_spring_forward_night() -> None:
    # Reported 2026-03-28 20:30 (CET), estimate 1 h: overrun at 22:30 -> first notice 08:00 CEST.
    facts = incident("2026-03-28 20:30", "2026-03-28 21:30")
    check(decide(facts, L("2026-03-28 20:30")), None, wake="2026-03-29 08:00+02:00")
    check(
        decide(facts, L("2026-03-29 08:00+02:00")),
        "first",
        "2026-03-29 10:00+02:00",
        "2026-03-29 10:00+02:00",
    )


def test_overrun_is_real_elapsed_time_across_fall_back() -> None:
    # Started 2026-10-25 01:30 CEST (23:30Z); 2 h later is 01:30Z = 02:30 CET, one wall-clock hour later.
    assert overrun_at(L("2026-10-25 01:30+02:00")) == L("2026-10-25 02:30+01:00")
    assert overrun_at(L("2026-10-25 01:30+02:00")).utcoffset() == timedelta(hours=1)
    assert "2026-10-25 02:30 CET" in plan("acute", L("2026-10-25 01:30+02:00"), L("2026-10-25 02:00+01:00")).reason
    facts = incident("2026-10-25 01:30+02:00", "2026-10-25 02:00+01:00")
    check(decide(facts, L("2026-10-25 01:30+02:00")), None, wake="2026-10-25 08:00+01:00")
    check(
        decide(facts, L("2026-10-25 08:00+01:00")),
        "first",
        "2026-10-25 10:00+01:00",
        "2026-10-25 10:00+01:00",
    )


def test_planned_announced_days_ahead_promises_status_after_the_start() -> None:
    facts = incident("2026-11-23 10:00", "2026-11-28 23:30", kind="planned", start="2026-11-28 21:00")
    # 21:00 + 2 h = 23:00 is outside the window -> Sunday 08:00
    check(decide(facts, L("2026-11-23 10:00")), "first", "2026-11-29 08:00", "2026-11-29 08:00")
