"""The hours the pages state, from the procedure's rules (notify.policy.hours_texts): the on-call's are the
notice window outside EDI support's hours, also split around support hours that start late."""

from __future__ import annotations

import dataclasses
from datetime import time, timedelta

from notify import policy


def test_region_syddanmarks_hours() -> None:
    assert policy.hours_texts(policy.DEFAULT_RULES) == {
        "support": "man–tors 8.00–15.45, fre 8.00–14.00",
        "on_call": "man–tors 15.45–22.00, fre 14.00–22.00, lør–søn 8.00–22.00 samt helligdage og lukkedage 8.00–22.00",
        "closing": "24. december og 31. december",
        "window_start": "08.00",
        "window_end": "22.00",
        "threshold": "2 timer",
    }


def test_support_all_window_long_leaves_the_on_call_only_closed_days() -> None:
    every_day = {d: (time(8), time(22)) for d in range(7)}
    rules = dataclasses.replace(policy.DEFAULT_RULES, support_hours=every_day, closing_days=frozenset())
    assert policy.on_call_hours_text(rules) == "helligdage og lukkedage 8.00–22.00"
    assert policy.closing_days_text(rules) == ""
    assert policy.support_hours_text(rules) == "man–søn 8.00–22.00"


def test_late_support_and_one_off_closing_days() -> None:
    rules = dataclasses.replace(
        policy.DEFAULT_RULES,
        support_hours={0: (time(9), time(15)), 5: (time(10), time(12))},
        notice_threshold=timedelta(minutes=90),
        closing_days=frozenset({"2027-01-02", "12-24"}),
    )
    assert policy.on_call_hours_text(rules) == (
        "man 8.00–9.00 og 15.00–22.00, tirs–fre 8.00–22.00, lør 8.00–10.00 og 12.00–22.00, søn 8.00–22.00"
        " samt helligdage og lukkedage 8.00–22.00"
    )
    assert policy.closing_days_text(rules) == "24. december og 2. januar 2027"
    assert policy.threshold_text(rules) == "90 minutter"
