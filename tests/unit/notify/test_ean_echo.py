"""Issue 10 item 5 in the outage procedure: an unknown organisation is named only when it looks like an EAN.

Anything else typed into an EAN field (a CPR number, written any way) is refused without being repeated.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from notify.incidents import SYSTEM, InvalidInput, parse_incident, unknown_organisations
from notify.model import Organisation

KNOWN = "5790000198764"
ORGS = {KNOWN: Organisation(KNOWN, "Testkommune", "municipality")}


def test_only_ean_shaped_values_are_repeated() -> None:
    assert unknown_organisations(["5790000000005"]) == "Ukendt organisation (EAN): 5790000000005"
    for typed in ("2311754321", "231175-4321", "23117543210", "abc", "５７９０００００００００５"):
        text = unknown_organisations(["5790000000005", typed])
        assert typed not in text and "5790000000005" not in text and "13 cifre" in text


@pytest.mark.parametrize("typed", ["23117543210", "01017099960", "5790000198764x"])
def test_incident_api_does_not_echo_a_bad_ean(typed: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_incident(
            {"kind": "acute", "reporting_organisation": KNOWN, "affected_organisations": [typed]},
            actor=SYSTEM,
            organisations=ORGS,
            catalogue={},
            now=datetime(2026, 11, 23, 8, tzinfo=UTC),
            zone=ZoneInfo("Europe/Copenhagen"),
            source="api",
        )
    message = err.value.errors["affected_organisations"]
    assert typed not in message and "gentages ikke" in message
