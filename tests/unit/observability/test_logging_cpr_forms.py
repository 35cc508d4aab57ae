"""The log scrubber catches a CPR number in every form notify.cpr refuses in form fields (issue 10 #6):
a RefuseText or an error text that reaches a log line is scrubbed however the number was written."""

from __future__ import annotations

import pytest

from edigate.logging import CPR_MARK, scrub_text
from notify.cpr import contains_cpr

FORMS = ["010170-9996", "0101709996", "010170 9996", "01.01.70-9996", "01.01.70 9996", "01.01.709996"]


@pytest.mark.parametrize("form", FORMS)
def test_every_written_form_is_scrubbed(form: str) -> None:
    assert contains_cpr(form)  # the same forms as the project's form-field detector
    for text in (form, f"RefuseText: pt {form} ukendt", f"CPR:{form}.", f'"x\\n{form}"'):
        scrubbed = scrub_text(text)
        assert CPR_MARK in scrubbed and "9996" not in scrubbed, (text, scrubbed)


@pytest.mark.parametrize(
    "text",
    ["13.11.2026 10:00", "22.11.26 10:30", "01.0170-9996", "ids 1234 5678", "took 120312 ms", "5790000123456"],
)
def test_dates_times_and_ids_are_left_alone(text: str) -> None:
    assert scrub_text(text) == text
