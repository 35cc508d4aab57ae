"""The shape-based CPR net on the validator's texts: every CPR-shaped number goes, resource ids stay whole."""

from __future__ import annotations

import uuid

import pytest

from edigate.fhir.validation import CPR_MARK, scrub_cpr


@pytest.mark.parametrize(
    "text",
    [
        "Patient identifier 150385-1234 is invalid",
        "value '1503851234' does not match",
        "CPR: 1503851234.",
        "Bundle.entry[2].resource/*Patient/150385-1234*/",
    ],
)
def test_cpr_shaped_numbers_are_removed(text: str) -> None:
    scrubbed = scrub_cpr(text)
    assert "1234" not in scrubbed and CPR_MARK in scrubbed


@pytest.mark.parametrize(
    "resource_id",
    [
        "6c150385-1234-41a4-a54c-078a85c0e244",  # the id that made the mutant test fail once in CI
        "ab123456-7890-4abc-8def-0123456789ab",
        "12345678-1234-4abc-8def-1503851234ab",
    ],
)
def test_resource_ids_in_expressions_stay_whole(resource_id: str) -> None:
    expression = f"Bundle.entry[0].resource/*MessageHeader/{resource_id}*/"
    assert scrub_cpr(expression) == expression


def test_random_uuids_stay_whole() -> None:
    for _ in range(20_000):
        text = f"MessageHeader/{uuid.uuid4()}"
        assert scrub_cpr(text) == text
