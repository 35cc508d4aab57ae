"""Properties of the rules over many generated times and incidents (hypothesis).

The scheduler simulation drives `decide` the way the running system does: it evaluates at every change to
the facts and then sleeps until `wake_at`. It must send exactly what a scheduler that polls every five
minutes sends, and what it sends must obey the procedure (window, one first notice, resolved last).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from notify.policy import (
    IncidentFacts,
    SentNotice,
    decide,
    downtime,
    handled_at,
    in_window,
    next_in_window,
    next_status_at,
)

CPH = ZoneInfo("Europe/Copenhagen")
STEP = timedelta(minutes=5)
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)

# Any instant of 2026-2027 to the second, in UTC, local or naive-local form.
seconds = st.integers(min_value=0, max_value=2 * 365 * 24 * 3600)
instants = seconds.map(lambda s: YEAR_START + timedelta(seconds=s))


@st.composite
def any_form(draw: st.DrawFn) -> datetime:
    t = draw(instants)
    form = draw(st.sampled_from(["utc", "local", "naive"]))
    if form == "utc":
        return t
    local = t.astimezone(CPH)
    return local if form == "local" else local.replace(tzinfo=None)


@settings(max_examples=400, deadline=None)
@given(any_form())
def test_handled_at_is_in_the_window_not_before_and_within_a_day(reported: datetime) -> None:
    handled = handled_at(reported)
    reported_utc = (reported if reported.tzinfo else reported.replace(tzinfo=CPH)).astimezone(UTC)
    assert in_window(handled)
    assert handled.astimezone(UTC) >= reported_utc
    assert handled.astimezone(UTC) - reported_utc <= timedelta(hours=11)  # 22:00 -> 08:00, plus a DST hour
    if in_window(reported):
        assert handled.astimezone(UTC) == reported_utc
    else:
        assert (handled.hour, handled.minute, handled.second) == (8, 0, 0)
    assert handled.tzinfo is not None and handled.utcoffset() in (timedelta(hours=1), timedelta(hours=2))


@settings(max_examples=300, deadline=None)
@given(instants)
def test_next_status_is_in_the_window_and_at_least_the_interval_later(notice_at: datetime) -> None:
    promised = next_status_at(notice_at).astimezone(UTC)
    assert in_window(promised)
    assert promised >= notice_at + timedelta(hours=2)
    assert next_in_window(promised).astimezone(UTC) == promised


@settings(max_examples=300, deadline=None)
@given(instants, st.integers(min_value=0, max_value=3 * 24 * 60))
def test_downtime_is_elapsed_time_whatever_the_form(start: datetime, minutes: int) -> None:
    end = start + timedelta(minutes=minutes)
    assert downtime(start.astimezone(CPH), end.astimezone(CPH)) == timedelta(minutes=minutes)
    assert downtime(start, end.astimezone(CPH)) == timedelta(minutes=minutes)


# --- the scheduler simulation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Story:
    """An incident's life on a five-minute grid: report, confirmation, handler updates, resolution."""

    facts: IncidentFacts  # as at the report (no notices, unresolved, no updates)
    confirmed_at: datetime
    updates: tuple[tuple[datetime, datetime], ...]  # (when, new expected end)
    resolved_at: datetime | None
    horizon: datetime


@st.composite
def stories(draw: st.DrawFn) -> Story:
    # Days of 2026 with both DST changes near the middle of the draws' range.
    day = draw(st.sampled_from([83, 86, 87, 88, 296, 297, 298, 326, 327, 331, 358]))  # incl. 28/29 Mar, 25 Oct
    reported = YEAR_START + timedelta(days=day, minutes=5 * draw(st.integers(0, 287)))
    kind = draw(st.sampled_from(["acute", "planned"]))
    lead = timedelta(0) if kind == "acute" else STEP * draw(st.integers(0, 2 * 288))
    start = reported - (STEP * draw(st.integers(0, 6)) if kind == "acute" else -lead)
    estimate = STEP * draw(st.integers(0, 96))
    confirm_delay = STEP * draw(st.sampled_from([0, 0, 0, 3, 30]))
    updates: list[tuple[datetime, datetime]] = []
    at = reported
    for _ in range(draw(st.integers(0, 3))):
        at = at + STEP * draw(st.integers(1, 72))
        updates.append((at, at + STEP * draw(st.integers(0, 60))))
    resolve_after = draw(st.one_of(st.none(), st.integers(1, 288)))
    resolved = None if resolve_after is None else max(start, reported) + STEP * resolve_after
    facts = IncidentFacts(
        kind=kind,  # type: ignore[arg-type]
        confirmed=confirm_delay == timedelta(0),
        reported_at=reported,
        start=start,
        expected_end=start + estimate,
        resolved_at=None,
        last_update_at=None,
        notices=(),
        last_reminder_at=None,
    )
    horizon = max(reported + confirm_delay, at, resolved or reported, start) + timedelta(days=2)
    return Story(facts, reported + confirm_delay, tuple(updates), resolved, horizon)


def facts_at(story: Story, t: datetime, sent: tuple[SentNotice, ...], reminded: datetime | None) -> IncidentFacts:
    """The facts as the running system would hold them at `t` (events at `t` included)."""
    facts = replace(story.facts, confirmed=t >= story.confirmed_at, notices=sent, last_reminder_at=reminded)
    for when, new_end in story.updates:
        if when <= t and (story.resolved_at is None or when < story.resolved_at):
            facts = replace(facts, expected_end=new_end, last_update_at=when)
    if story.resolved_at is not None and story.resolved_at <= t:
        facts = replace(facts, resolved_at=story.resolved_at, last_update_at=story.resolved_at)
    return facts


Action = tuple[datetime, str]


def evaluate(
    story: Story, t: datetime, sent: list[SentNotice], reminded: list[datetime], log: list[Action]
) -> datetime | None:
    """Apply everything due at `t` (re-deciding after each action, as the system would) and return wake_at."""
    for _ in range(4):
        decision = decide(facts_at(story, t, tuple(sent), reminded[-1] if reminded else None), t)
        if decision.wake_at is not None:
            assert decision.wake_at.astimezone(UTC) > t, decision.reason
        if decision.notice is None and not decision.remind_on_duty:
            return None if decision.wake_at is None else decision.wake_at.astimezone(UTC)
        if decision.notice is not None:
            sent.append(SentNotice(t, decision.notice, decision.notice_next_status_at))
            log.append((t, decision.notice))
        if decision.remind_on_duty:
            reminded.append(t)
            log.append((t, "remind"))
    raise AssertionError("decide keeps asking for actions at the same instant")


def run_event_driven(story: Story) -> list[Action]:
    events = {story.facts.reported_at, story.confirmed_at, *(w for w, _ in story.updates)}
    if story.resolved_at is not None:
        events.add(story.resolved_at)
    sent: list[SentNotice] = []
    reminded: list[datetime] = []
    log: list[Action] = []
    wake: datetime | None = None
    pending = sorted(events)
    while True:
        candidates = [*pending, *([wake] if wake is not None else [])]
        if not candidates:
            return log
        t = min(candidates)
        if t > story.horizon:
            return log
        pending = [e for e in pending if e > t]
        wake = evaluate(story, t, sent, reminded, log)


def run_polling(story: Story) -> list[Action]:
    sent: list[SentNotice] = []
    reminded: list[datetime] = []
    log: list[Action] = []
    t = story.facts.reported_at
    while t <= story.horizon:
        evaluate(story, t, sent, reminded, log)
        t += STEP
    return log


@settings(max_examples=120, deadline=None)
@given(stories())
def test_scheduler_sleeping_until_wake_at_misses_nothing(story: Story) -> None:
    assert run_event_driven(story) == run_polling(story)


@settings(max_examples=250, deadline=None)
@given(stories())
def test_what_goes_out_obeys_the_procedure(story: Story) -> None:
    log = run_event_driven(story)
    notices = [(t, kind) for t, kind in log if kind != "remind"]
    kinds = [kind for _, kind in notices]
    for t, _ in notices:
        assert in_window(t), f"a notice outside the window at {t.astimezone(CPH)}"
        assert t >= story.confirmed_at  # nothing goes out for a draft
    assert kinds.count("first") <= 1
    assert kinds.count("combined") <= 1
    assert kinds.count("resolved") <= 1
    if kinds:
        assert kinds[0] in ("first", "combined")
        assert "combined" not in kinds or kinds == ["combined"]
        if kinds[-1] in ("resolved", "combined"):
            assert all(k not in ("resolved", "combined") for k in kinds[:-1])
    for t, kind in notices:
        if kind in ("resolved", "combined"):
            assert story.resolved_at is not None and t >= story.resolved_at
    if story.resolved_at is not None and kinds and story.horizon >= story.resolved_at + timedelta(days=1):
        assert kinds[-1] in ("resolved", "combined")  # everyone told is told it is solved
    # an acute outage unresolved for more than the threshold is always announced
    if story.facts.kind == "acute":
        end = story.resolved_at or story.horizon
        if end - story.facts.start > timedelta(hours=2) and end - story.confirmed_at > timedelta(hours=12):
            assert kinds, "an acute outage running over 2 h was never announced"
