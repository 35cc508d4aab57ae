"""The CPR detector for free text (`notify.cpr`): every written form is found, everyday numbers are not."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.cpr import CPR_MARK, contains_cpr, redact_cpr

WRITTEN_FORMS = [
    "010203-1234",
    "0102031234",
    "010203 1234",
    "01.02.03-1234",
    "01.02.03 1234",
    "01.02.03.1234",
    "01-02-03-1234",
    "01/02/03-1234",
    "010203 - 1234",
    "010203–1234",  # en dash, as word processors write it
    "010203\u00a01234",  # no-break space
    "010203\n1234",
    "０１０２０３－１２３４",  # full-width
    "0102\u200b031234",  # a zero-width space inside
    "311299-9999",
]
EMBEDDED = ["Patient {} ramt", "CPR:{}", "cpr-nr.{}.", "pt{}x", "({})", "{}"]
NOT_CPR = [
    "5790000198764",  # an EAN (13 digits)
    "+45 65 51 10 00",
    "65511000",
    "tlf. 21 12 34 56",
    "2026-11-23T10:00:00+01:00",
    "EOJ nede 23.11.2026 kl. 10",
    "Opgradering fra 08:00 til 14:00",
    "12345678901",
    "320203-1234",  # day 32
    "011303-1234",  # month 13
    "010203-123",
    "hanne@odense.example",
    "XDIS17, XDIS20",
    "",
]


@pytest.mark.parametrize("form", WRITTEN_FORMS)
@pytest.mark.parametrize("frame", EMBEDDED)
def test_every_written_form_is_found_embedded_in_text(form: str, frame: str) -> None:
    text = frame.format(form)
    assert contains_cpr(text), text
    assert not contains_cpr(redact_cpr(text)) and CPR_MARK in redact_cpr(text)


@pytest.mark.parametrize("text", NOT_CPR)
def test_everyday_numbers_are_not_a_cpr(text: str) -> None:
    assert not contains_cpr(text)


@given(
    day=st.integers(1, 31),
    month=st.integers(1, 12),
    year=st.integers(0, 99),
    serial=st.integers(0, 9999),
    seps=st.lists(st.sampled_from(["", "-", " ", ".", "/", " - "]), min_size=3, max_size=3),
    before=st.text(st.characters(blacklist_categories=["Nd", "No"]), max_size=20),
    after=st.text(st.characters(blacklist_categories=["Nd", "No"]), max_size=20),
)
def test_any_cpr_in_any_form_in_any_text_is_found(
    day: int, month: int, year: int, serial: int, seps: list[str], before: str, after: str
) -> None:
    cpr = f"{day:02d}{seps[0]}{month:02d}{seps[1]}{year:02d}{seps[2]}{serial:04d}"
    assert contains_cpr(before + cpr + after)


@pytest.mark.parametrize(
    "resource_id",
    [
        "6c150385-1234-41a4-a54c-078a85c0e244",
        "ab123456-7890-4abc-8def-0123456789ab",
        "6C150385-1234-41A4-A54C-078A85C0E244",
    ],
)
def test_a_uuid_is_not_a_cpr_and_stays_whole(resource_id: str) -> None:
    """`6c150385-1234-…` holds the CPR shape `150385-1234`: the id must survive the log scrubber whole."""
    text = f"MessageHeader/{resource_id} afvist"
    assert not contains_cpr(text) and redact_cpr(text) == text
    beside = f"{text}; patient 150385-1234"
    assert contains_cpr(beside) and redact_cpr(beside) == f"{text}; patient {CPR_MARK}"


def test_random_uuids_stay_whole_and_the_cpr_forms_are_still_found() -> None:
    for n in range(20_000):
        form = WRITTEN_FORMS[n % len(WRITTEN_FORMS)]
        text = f"MessageHeader/{uuid.uuid4()}"
        assert redact_cpr(text) == text and not contains_cpr(text), text
        both = f"{text} {form}"
        assert redact_cpr(both) == f"{text} {CPR_MARK}", both
