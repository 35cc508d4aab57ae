"""The contacts card and the outage form state the hours of `[notify.rules]` (issue 12 item 9): EDI support's
hours, the on-call's (the notice window outside them), the closing days, the window and the 2-hour rule, from
the same rules the policy decides by. Another configuration, other words on the pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import TOKENS
from tests.integration.notify.test_notify_input import Browser

SHORTER_DAYS = {
    "notice_threshold_minutes": 180,
    "notice_window": "07:00-21:00",
    "support_hours": {day: "09:00-15:00" for day in ("mon", "tue", "wed", "thu", "fri")},
    "closing_days": ["12-23", "2027-01-02"],
}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize(
    ("rules", "card", "form", "not_shown"),
    [
        (
            None,  # Region Syddanmark's defaults
            [
                "man–tors 8.00–15.45, fre 8.00–14.00; lukket på helligdage og 24. december og 31. december",
                "man–tors 15.45–22.00, fre 14.00–22.00, lør–søn 8.00–22.00 samt helligdage og lukkedage 8.00–22.00",
            ],
            [
                "planlagte nedlukninger på mere end 2 timer",
                "Indberetninger efter kl. 22.00 håndteres først den efterfølgende morgen kl. 08.00.",
                "EDI-support: man–tors 8.00–15.45, fre 8.00–14.00; ellers drifts- og ledelsesvagten.",
            ],
            ["9.00–15.00"],
        ),
        (
            SHORTER_DAYS,
            [
                "man–fre 9.00–15.00; lukket på helligdage og 23. december og 2. januar 2027",
                "man–fre 7.00–9.00 og 15.00–21.00, lør–søn 7.00–21.00 samt helligdage og lukkedage 7.00–21.00",
                "Indberetninger efter kl. 21.00 håndteres først den efterfølgende morgen kl. 07.00.",
            ],
            [
                "planlagte nedlukninger på mere end 3 timer",
                "Indberetninger efter kl. 21.00 håndteres først den efterfølgende morgen kl. 07.00.",
                "EDI-support: man–fre 9.00–15.00; ellers drifts- og ledelsesvagten.",
            ],
            ["15.45", "22.00", "24. december", "2 timer"],
        ),
    ],
    ids=["defaults", "configured"],
)
def test_the_pages_state_the_configured_hours(
    world_factory: Any,
    smtp_server: SmtpServer,
    rules: dict[str, Any] | None,
    card: list[str],
    form: list[str],
    not_shown: list[str],
) -> None:
    world = world_factory(smtp_server, clock="2026-11-23T10:00:00+01:00", **({"rules": rules} if rules else {}))
    world.service.start()
    b = Browser(world.service.base_url)
    status, html, _ = b.get("/status/contacts")
    assert status == 200
    shown = text_of(html.split("<main>")[1])
    for words in card:
        assert words in shown, (words, shown)
    b.login(TOKENS["odense"])
    status, html, _ = b.get("/incidents/new")
    assert status == 200
    hint = re.search(r'<p class="hint" id="procedure-hours">(.*?)</p>', html, re.S)
    assert hint, html[:1000]
    for words in form:
        assert words in text_of(hint.group(1)), (words, hint.group(1))
    for words in not_shown:
        assert words not in shown and words not in hint.group(1), words
