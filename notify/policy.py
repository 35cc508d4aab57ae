"""The rules of the outage procedure ("Meldeprocedure sygehus-kommune ved EDI-nedbrud/planlagt nedlukning").

Pure functions of time: nothing here reads the clock, the database or the network, so every rule can be
tested with plain datetimes. Local times are Europe/Copenhagen (DST via zoneinfo); durations are real
elapsed time, so all arithmetic is done in UTC and only wall-clock questions ("is it before 08:00?",
"is it Friday?") are asked in local time.

Inputs may be aware datetimes in any zone; a naive datetime means local time. Returned instants are aware
and in local time. Do not subtract two returned values directly (Python subtracts same-zone datetimes by
wall clock); use `downtime()` or convert to UTC first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

Kind = Literal["acute", "planned"]
Handler = Literal["edi-support", "on-call"]
NoticeKind = Literal["first", "update", "resolved", "combined"]

#: EDI-supportens åbningstid, Region Syddanmark: Mon–Thu 08:00–15:45, Fri 08:00–14:00 (Mon = 0).
SUPPORT_HOURS_RSYD: Mapping[int, tuple[time, time]] = MappingProxyType(
    {
        0: (time(8, 0), time(15, 45)),
        1: (time(8, 0), time(15, 45)),
        2: (time(8, 0), time(15, 45)),
        3: (time(8, 0), time(15, 45)),
        4: (time(8, 0), time(14, 0)),
    }
)


#: Region Syddanmark is closed on 24 and 31 December (not public holidays in Denmark)
CLOSING_DAYS_RSYD: frozenset[str] = frozenset({"12-24", "12-31"})


@dataclass(frozen=True)
class ProcedureRules:
    """The procedure's numbers; the defaults are Region Syddanmark's. Configure, do not hard-code."""

    notice_threshold: timedelta = timedelta(hours=2)  # a notice iff downtime > threshold (strictly)
    window_start: time = time(8, 0)  # the notice window [08:00, 22:00), every day, local
    window_end: time = time(22, 0)
    next_status_interval: timedelta = timedelta(hours=2)
    support_hours: Mapping[int, tuple[time, time]] = field(default_factory=lambda: SUPPORT_HOURS_RSYD, hash=False)
    timezone: str = "Europe/Copenhagen"
    holiday_country: str = "DK"  # public holidays of this country are outside support hours
    #: the region's own closing days besides the public holidays: "MM-DD" every year, or "YYYY-MM-DD" once
    closing_days: frozenset[str] = CLOSING_DAYS_RSYD

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


DEFAULT_RULES = ProcedureRules()


# --- time helpers -----------------------------------------------------------------------------------


def to_local(t: datetime, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """`t` in the procedure's local zone. A naive `t` is read as local wall-clock time (an ambiguous
    fall-back time is taken as the first occurrence; a time in the spring-forward gap moves forward)."""
    zone = rules.zone
    if t.tzinfo is None:
        t = t.replace(tzinfo=zone)
    return t.astimezone(UTC).astimezone(zone)


def _utc(t: datetime, rules: ProcedureRules) -> datetime:
    return to_local(t, rules).astimezone(UTC)


def _at_local(day: date, clock: time, rules: ProcedureRules) -> datetime:
    """The instant of wall-clock time `clock` on `day`, local."""
    return to_local(datetime.combine(day, clock), rules)


def _in_span(clock: time, start: time, end: time) -> bool:
    """`clock` in [start, end); a span with start > end wraps past midnight; start == end is all day."""
    if start == end:
        return True
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def in_window(t: datetime, rules: ProcedureRules = DEFAULT_RULES) -> bool:
    """Is `t` inside the notice window ("alle dage mellem kl. 08.00 og 22.00"), i.e. [08:00, 22:00) local?"""
    local = to_local(t, rules)
    return _in_span(local.time().replace(fold=0), rules.window_start, rules.window_end)


def next_in_window(t: datetime, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """`t` itself (local) if inside the window, else the next window start (08:00 local)."""
    local = to_local(t, rules)
    if in_window(local, rules):
        return local
    candidate = _at_local(local.date(), rules.window_start, rules)
    if candidate.astimezone(UTC) < local.astimezone(UTC):
        candidate = _at_local(local.date() + timedelta(days=1), rules.window_start, rules)
    return candidate


def handled_at(reported_at: datetime, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """When a report is handled: at once inside the window, else at 08:00 ("den efterfølgende morgen")."""
    return next_in_window(reported_at, rules)


@lru_cache(maxsize=64)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


def is_public_holiday(day: date, rules: ProcedureRules = DEFAULT_RULES) -> bool:
    return day in _public_holidays(rules.holiday_country, day.year)


def is_closing_day(day: date, rules: ProcedureRules = DEFAULT_RULES) -> bool:
    """A public holiday or one of the region's own closing days (24 and 31 December by default)."""
    if is_public_holiday(day, rules):
        return True
    return f"{day:%m-%d}" in rules.closing_days or day.isoformat() in rules.closing_days


def in_support_hours(t: datetime, rules: ProcedureRules = DEFAULT_RULES) -> bool:
    """Is `t` within EDI support's opening hours (not on a public holiday or a closing day)?"""
    local = to_local(t, rules)
    hours = rules.support_hours.get(local.weekday())
    if hours is None or is_closing_day(local.date(), rules):
        return False
    start, end = hours
    return start <= local.time().replace(fold=0) < end


_DAYS_DA = ("man", "tirs", "ons", "tors", "fre", "lør", "søn")


def _clock_da(t: time, *, pad: bool = False) -> str:
    return f"{t.hour:02d}.{t.minute:02d}" if pad else f"{t.hour}.{t.minute:02d}"


def window_text(rules: ProcedureRules = DEFAULT_RULES) -> str:
    """The notice window as the procedure writes it: "08.00–22.00"."""
    return f"{_clock_da(rules.window_start, pad=True)}–{_clock_da(rules.window_end, pad=True)}"


def support_hours_text(rules: ProcedureRules = DEFAULT_RULES) -> str:
    """EDI support's hours for a mail: "man–tors 8.00–15.45, fre 8.00–14.00" (runs of equal days joined)."""
    per_day = [(hours,) if (hours := rules.support_hours.get(day)) is not None else () for day in range(7)]
    return ", ".join(_runs_text(per_day)) or "lukket"


def threshold_text(rules: ProcedureRules = DEFAULT_RULES) -> str:
    """The 2-hour rule's threshold as the procedure writes it: "2 timer" (or "90 minutter")."""
    minutes = int(rules.notice_threshold.total_seconds() // 60)
    return f"{minutes // 60} timer" if minutes % 60 == 0 else f"{minutes} minutter"


def _runs_text(per_day: Sequence[tuple[tuple[time, time], ...]]) -> list[str]:
    """ "man–tors 15.45–22.00": weekdays with equal spans joined into runs (a day without spans is left out)."""
    runs: list[tuple[int, int, tuple[tuple[time, time], ...]]] = []
    for day, spans in enumerate(per_day):
        if not spans:
            continue
        if runs and runs[-1][1] == day - 1 and runs[-1][2] == spans:
            runs[-1] = (runs[-1][0], day, spans)
        else:
            runs.append((day, day, spans))
    return [
        f"{_DAYS_DA[first] if first == last else f'{_DAYS_DA[first]}–{_DAYS_DA[last]}'} "
        + " og ".join(f"{_clock_da(a)}–{_clock_da(b)}" for a, b in spans)
        for first, last, spans in runs
    ]


def on_call_hours_text(rules: ProcedureRules = DEFAULT_RULES) -> str:
    """When the on-call ("drifts- og ledelsesvagten") handles: the notice window outside EDI support's hours,
    and the whole window on public holidays and closing days: "man–tors 15.45–22.00, fre 14.00–22.00, lør–søn
    8.00–22.00 samt helligdage og lukkedage 8.00–22.00"."""
    start, end = rules.window_start, rules.window_end
    per_day: list[tuple[tuple[time, time], ...]] = []
    for day in range(7):
        hours = rules.support_hours.get(day)
        if hours is None:
            per_day.append(((start, end),))
            continue
        before = (start, min(hours[0], end)) if hours[0] > start else None
        after = (max(hours[1], start), end) if hours[1] < end else None
        per_day.append(tuple(s for s in (before, after) if s is not None and s[0] < s[1]))
    whole = f"{_clock_da(start)}–{_clock_da(end)}"
    days = ", ".join(_runs_text(per_day))
    return f"{days} samt helligdage og lukkedage {whole}" if days else f"helligdage og lukkedage {whole}"


#: the months' Danish names (also for notify.render's dates)
MONTHS_DA = (
    "januar",
    "februar",
    "marts",
    "april",
    "maj",
    "juni",
    "juli",
    "august",
    "september",
    "oktober",
    "november",
    "december",
)


def hours_texts(rules: ProcedureRules = DEFAULT_RULES) -> dict[str, str]:
    """Every configured hour the pages state (the contacts card, the form), from the rules the policy uses."""
    return {
        "support": support_hours_text(rules),
        "on_call": on_call_hours_text(rules),
        "closing": closing_days_text(rules),
        "window_start": _clock_da(rules.window_start, pad=True),
        "window_end": _clock_da(rules.window_end, pad=True),
        "threshold": threshold_text(rules),
    }


def closing_days_text(rules: ProcedureRules = DEFAULT_RULES) -> str:
    """The region's own closing days: "24. december og 31. december" ("2. januar 2027" for a one-off day)."""
    days = []
    for value in sorted(rules.closing_days):  # "MM-DD" (every year) before "YYYY-MM-DD" (once)
        year, month_day = (value[:4], value[5:]) if len(value) == 10 else ("", value)
        month, day = int(month_day[:2]), int(month_day[3:])
        days.append(f"{day}. {MONTHS_DA[month - 1]}" + (f" {year}" if year else ""))
    if not days:
        return ""
    return days[0] if len(days) == 1 else ", ".join(days[:-1]) + " og " + days[-1]


def handled_by(t: datetime, rules: ProcedureRules = DEFAULT_RULES) -> Handler:
    """Who handles at `t`: EDI support in its opening hours, otherwise the operations and management
    on-call ("drifts- og ledelsesvagten")."""
    return "edi-support" if in_support_hours(t, rules) else "on-call"


def downtime(start: datetime, expected_end: datetime, rules: ProcedureRules = DEFAULT_RULES) -> timedelta:
    """Real elapsed time from `start` to `expected_end` (across DST changes too); negative if reversed."""
    return _utc(expected_end, rules) - _utc(start, rules)


def next_status_at(notice_at: datetime, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """The "next status" a notice sent at `notice_at` promises: the interval later, moved to 08:00 if that
    falls outside the window (a notice at 21:00 promises 08:00 next day, not 23:00)."""
    return next_in_window(_utc(notice_at, rules) + rules.next_status_interval, rules)


def _fmt(t: datetime, rules: ProcedureRules) -> str:
    return to_local(t, rules).strftime("%Y-%m-%d %H:%M %Z")


def _fmt_duration(d: timedelta) -> str:
    """A duration for people: "2 h", "3 h 30 min", "45 min"."""
    minutes = int(d.total_seconds() // 60)
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(minutes), 60)
    if hours and rest:
        return f"{sign}{hours} h {rest} min"
    return f"{sign}{hours} h" if hours else f"{sign}{rest} min"


# --- the preview of a report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a report will trigger, as shown to the reporter and by `edigate outage plan`."""

    notify: bool
    handled_at: datetime
    handled_by: Handler
    first_notice_at: datetime | None
    downtime_minutes: int
    reason: str


def overrun_at(start: datetime, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """The moment an acute outage still unresolved warrants a notice: start + threshold (local)."""
    return to_local(_utc(start, rules) + rules.notice_threshold, rules)


def plan(
    kind: Kind,
    reported_at: datetime,
    expected_end: datetime,
    start: datetime | None = None,
    rules: ProcedureRules = DEFAULT_RULES,
) -> Plan:
    """Preview a report: when and by whom it is handled, and whether and when a first notice goes out.

    Raises ValueError if `expected_end` is before the start (start defaults to `reported_at`)."""
    start = reported_at if start is None else start
    expected = downtime(start, expected_end, rules)
    if expected < timedelta(0):
        raise ValueError("expected end is before the start")
    handled = handled_at(reported_at, rules)
    by = handled_by(handled, rules)
    overrun = overrun_at(start, rules)
    already_overrun = kind == "acute" and _utc(overrun, rules) <= _utc(reported_at, rules)
    notify = expected > rules.notice_threshold or already_overrun
    minutes = int(expected.total_seconds() // 60)
    what = "The planned shutdown of" if kind == "planned" else "The expected downtime of"
    threshold = _fmt_duration(rules.notice_threshold)
    if notify and not expected > rules.notice_threshold:
        reason = (
            f"The outage started at {_fmt(start, rules)}, more than {threshold} before it was reported,"
            f" so a notice goes to the distribution lists when the report is handled at"
            f" {_fmt(handled, rules)} by {by}."
        )
        return Plan(True, handled, by, handled, minutes, reason)
    if notify:
        reason = (
            f"{what} {_fmt_duration(expected)} is more than {threshold}, so a notice goes to the"
            f" distribution lists when the report is handled at {_fmt(handled, rules)} by {by}."
        )
        return Plan(True, handled, by, handled, minutes, reason)
    if kind == "planned":
        reason = f"{what} {_fmt_duration(expected)} is not more than {threshold}, so no notice is sent."
    else:
        overrun_notice = next_in_window(max(_utc(overrun, rules), _utc(handled, rules)), rules)
        reason = (
            f"{what} {_fmt_duration(expected)} is not more than {threshold}, so no notice now; if the outage"
            f" is still unresolved at {_fmt(overrun, rules)} (start + {threshold}), a first notice goes"
            f" out at {_fmt(overrun_notice, rules)}."
        )
    return Plan(False, handled, by, None, minutes, reason)


# --- the running incident: what is due now -------------------------------------------------------------


@dataclass(frozen=True)
class SentNotice:
    """A notice already sent to the distribution lists."""

    sent_at: datetime
    kind: str  # "first" | "update" | "resolved" | "combined"
    next_status_at: datetime | None  # the next status it promised (None for resolved/combined)


@dataclass(frozen=True)
class IncidentFacts:
    """The running incident as facts; `decide` derives what is due from these and the time."""

    kind: Kind
    confirmed: bool  # False for an auto-detected draft: nothing goes out
    reported_at: datetime
    start: datetime
    expected_end: datetime  # the current estimate
    resolved_at: datetime | None
    last_update_at: datetime | None  # last status update / revised estimate by the handler
    notices: tuple[SentNotice, ...]  # distribution-list notices already sent, oldest first
    last_reminder_at: datetime | None  # last next-status-overdue reminder to the person on duty


@dataclass(frozen=True)
class Decision:
    """What to do for one incident now.

    `wake_at` is when to evaluate again if the facts do not change, assuming the notice and reminder
    returned here are sent and recorded. Call `decide` again after every change to the facts."""

    notice: NoticeKind | None  # what to send to the distribution lists now (None = nothing)
    notice_next_status_at: datetime | None  # the "next status" the notice states (None: resolved, combined)
    remind_on_duty: bool  # the promised next status is overdue: remind the person on duty (not the lists)
    wake_at: datetime | None  # when to evaluate again (None = never, unless the facts change)
    reason: str


def warranted_at(facts: IncidentFacts, rules: ProcedureRules = DEFAULT_RULES) -> datetime | None:
    """The moment a notice became (or will become) warranted for an unresolved incident, or None if it
    never will on the present facts: at once when the current estimate exceeds the threshold; for an acute
    outage also at start + threshold (the overrun rule). Planned shutdowns do not overrun-trigger."""
    if downtime(facts.start, facts.expected_end, rules) > rules.notice_threshold:
        return to_local(facts.reported_at, rules)
    if facts.kind == "acute":
        return overrun_at(facts.start, rules)
    return None


def first_notice_due(facts: IncidentFacts, rules: ProcedureRules = DEFAULT_RULES) -> datetime | None:
    """When the first notice of an unresolved incident is due: the later of handling and warranting,
    moved into the window. None if it is never warranted on the present facts."""
    warranted = warranted_at(facts, rules)
    if warranted is None:
        return None
    later = max(_utc(warranted, rules), _utc(handled_at(facts.reported_at, rules), rules))
    return next_in_window(later, rules)


def promised_next_status(facts: IncidentFacts, notice_at: datetime, rules: ProcedureRules = DEFAULT_RULES) -> datetime:
    """The next status a notice sent at `notice_at` promises: `next_status_at(notice_at)`, except that a
    planned shutdown announced before it starts promises its next status counted from the start (so an
    announcement days ahead does not make the person on duty overdue two hours later)."""
    return next_status_at(max(_utc(notice_at, rules), _utc(facts.start, rules)), rules)


def decide(facts: IncidentFacts, now: datetime, rules: ProcedureRules = DEFAULT_RULES) -> Decision:
    """What is due for this incident at `now`: a notice to the distribution lists, a reminder to the person
    on duty, and when to look again. List notices go out only inside the window; reminders at any hour."""
    now_utc = _utc(now, rules)

    def local(t: datetime | None) -> datetime | None:
        return None if t is None else to_local(t, rules)

    def wait_for_window(what: str) -> Decision:
        return Decision(None, None, False, next_in_window(now_utc, rules), f"{what} is due but waits for the window.")

    if not facts.confirmed:
        return Decision(None, None, False, None, "The incident is an unconfirmed draft: nothing goes out.")

    sent = facts.notices
    resolved_at = None if facts.resolved_at is None else _utc(facts.resolved_at, rules)

    if resolved_at is not None and resolved_at <= now_utc:
        if any(n.kind in ("resolved", "combined") for n in sent):
            return Decision(None, None, False, None, "The resolved notice has been sent: nothing more.")
        if sent:
            if not in_window(now_utc, rules):
                return wait_for_window("The resolved notice")
            return Decision("resolved", None, False, None, "Resolved after notices: send the resolved notice.")
        actual = resolved_at - _utc(facts.start, rules)
        announced = downtime(facts.start, facts.expected_end, rules) > rules.notice_threshold
        if facts.kind == "planned" and not announced:
            return Decision(
                None,
                None,
                False,
                None,
                "A planned shutdown announced as not longer than the threshold: nothing goes out.",
            )
        if actual <= rules.notice_threshold:
            return Decision(
                None,
                None,
                False,
                None,
                f"Resolved after {_fmt_duration(actual)} with no notice sent: nothing goes out.",
            )
        due = next_in_window(max(resolved_at, _utc(handled_at(facts.reported_at, rules), rules)), rules)
        if now_utc < due.astimezone(UTC) or not in_window(now_utc, rules):
            wake = max(due.astimezone(UTC), now_utc)
            return Decision(
                None,
                None,
                False,
                next_in_window(wake, rules),
                f"Resolved after {_fmt_duration(actual)} before any notice went out: one combined notice"
                f" is due at {_fmt(next_in_window(wake, rules), rules)}.",
            )
        return Decision(
            "combined",
            None,
            False,
            None,
            f"Resolved after {_fmt_duration(actual)} before any notice went out: send one combined notice.",
        )

    # Unresolved (or resolved in the future, which is treated as unresolved until then).
    wakes: list[datetime] = []
    if resolved_at is not None:
        wakes.append(resolved_at)

    def finish(notice: NoticeKind | None, next_status: datetime | None, remind: bool, reason: str) -> Decision:
        future = [w for w in wakes if w > now_utc]
        wake = to_local(min(future), rules) if future else None
        return Decision(notice, local(next_status), remind, wake, reason)

    if not sent:
        first_due = first_notice_due(facts, rules)
        if first_due is None:
            return finish(None, None, False, "Planned shutdown of not more than the threshold: no notice.")
        if now_utc < first_due.astimezone(UTC):
            wakes.append(first_due.astimezone(UTC))
            return finish(None, None, False, f"The first notice is due at {_fmt(first_due, rules)}.")
        if not in_window(now_utc, rules):
            wakes.append(next_in_window(now_utc, rules).astimezone(UTC))
            return finish(None, None, False, "The first notice is due but waits for the window.")
        promised = promised_next_status(facts, now_utc, rules)
        wakes.append(promised.astimezone(UTC))
        return finish("first", promised, False, "A notice is warranted: send the first notice.")

    last = sent[-1]
    last_sent = _utc(last.sent_at, rules)
    updated = facts.last_update_at is not None and _utc(facts.last_update_at, rules) > last_sent
    if updated:
        if not in_window(now_utc, rules):
            wakes.append(next_in_window(now_utc, rules).astimezone(UTC))
            return finish(None, None, False, "An update is due but waits for the window.")
        promised = promised_next_status(facts, now_utc, rules)
        wakes.append(promised.astimezone(UTC))
        return finish("update", promised, False, "The handler updated the incident: send an update.")

    if last.next_status_at is None:
        return finish(None, None, False, "Nothing is due.")
    promised = _utc(last.next_status_at, rules)
    reminded = facts.last_reminder_at is not None and _utc(facts.last_reminder_at, rules) >= promised
    if now_utc < promised:
        wakes.append(promised)
        return finish(None, None, False, f"The next status is promised at {_fmt(promised, rules)}.")
    if reminded:
        return finish(None, None, False, "The next status is overdue and the person on duty was reminded.")
    return finish(
        None,
        None,
        True,
        f"The next status promised at {_fmt(promised, rules)} is overdue: remind the person on duty.",
    )
