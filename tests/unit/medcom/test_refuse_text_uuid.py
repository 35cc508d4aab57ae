"""RefuseText is cleaned of CPR numbers (ddmmyy-xxxx, ddmmyyxxxx, ddmmyy xxxx) but a UUID in it stays whole:
`6c150385-1234-41a4-…` holds the CPR shape `150385-1234`, and blanking it mangled the id."""

from __future__ import annotations

import uuid

import pytest

from edigate.medcom.receipts import clean_refuse_text

CPR = "150385-1234"
FORMS = ["150385-1234", "1503851234", "150385 1234"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("frame", ["Patient {} ukendt", "CPR:{}", "pt{}x", "({})", "{}"])
def test_every_cpr_form_is_removed(form: str, frame: str) -> None:
    cleaned = clean_refuse_text(frame.format(form))
    assert "(cpr fjernet)" in cleaned and "1234" not in cleaned


@pytest.mark.parametrize(
    "resource_id",
    [
        "6c150385-1234-41a4-a54c-078a85c0e244",
        "ab123456-7890-4abc-8def-0123456789ab",
        "6C150385-1234-41A4-A54C-078A85C0E244",
    ],
)
def test_a_uuid_stays_whole_beside_a_cpr(resource_id: str) -> None:
    text = f"Bundle/{resource_id}: patient {CPR} ukendt"
    assert clean_refuse_text(text) == f"Bundle/{resource_id}: patient (cpr fjernet) ukendt"


def test_random_uuids_stay_whole() -> None:
    for _ in range(20_000):
        text = f"MessageHeader/{uuid.uuid4()} afvist"
        assert clean_refuse_text(text) == text
