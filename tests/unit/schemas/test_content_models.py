# mypy: disable-error-code="union-attr,index,arg-type,return-value"
# (xmlschema's content models are unions that this comparison walks dynamically)
"""Structural check: every supported letter accepts the same language as in MedCom's official XSD.

The differential test samples verdicts; this compares the content models themselves (names, order,
cardinalities, value restrictions) of the Envelope and each supported letter, so an element the examples
never use (e.g. HospitalReferral/HospitalVisitation) is covered too.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import xmlschema

from tests.conftest import require_shared
from tests.unit.schemas.content_model import element, first_difference
from tests.unit.schemas.oracle import SHIPPED

LETTERS = {
    "2005/08/07": (
        "NotificationOfAdmission",
        "NotificationOfDischarge",
        "AnswerOfAdmission",
        "DischargeLetter",
        "HospitalReferral",
        "NegativeVansReceipt",
        "NegativeReceipt",
        "PositiveReceipt",
    ),
    "2006/07/01": ("ClinicalEmail",),
    "2009/08/01": ("AdministrativeEmail",),
}


@cache
def _schema(schema_dir: Path, folder: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(schema_dir / folder / "EMessage.xsd"))


def _letter_declaration(schema: xmlschema.XMLSchema, letter: str) -> xmlschema.validators.XsdElement:
    """The letter as it may appear under Emessage (global in MedCom's files, local in ours)."""
    emessage = schema.elements["Emessage"]
    for candidate in emessage.type.content.iter_elements():
        if candidate.local_name == letter:
            return candidate
    raise AssertionError(f"{letter} is not a letter of Emessage")


@pytest.mark.parametrize(
    ("folder", "letter"), [(folder, letter) for folder, letters in LETTERS.items() for letter in letters]
)
def test_letter_content_model_matches_official(folder: str, letter: str) -> None:
    official_dir = require_shared() / "official-xsd"
    official = element(_letter_declaration(_schema(official_dir, folder), letter))
    ours = element(_letter_declaration(_schema(SHIPPED, folder), letter))
    assert first_difference(official, ours) is None, first_difference(official, ours)


@pytest.mark.parametrize("folder", sorted(LETTERS))
def test_envelope_and_message_frame_match_official(folder: str) -> None:
    official = _schema(require_shared() / "official-xsd", folder).elements["Emessage"].type.content
    ours = _schema(SHIPPED, folder).elements["Emessage"].type.content
    # Envelope: same model
    assert element(official[0]) == element(ours[0])
    # then a repeated (letter, optional Local_Elements) sequence
    off_repeat, our_repeat = official[1], ours[1]
    assert (off_repeat.model, off_repeat.min_occurs, off_repeat.max_occurs) == (
        our_repeat.model,
        our_repeat.min_occurs,
        our_repeat.max_occurs,
    )
    off_local = [e for e in off_repeat.iter_elements() if e.local_name == "Local_Elements"]
    our_local = [e for e in our_repeat.iter_elements() if e.local_name == "Local_Elements"]
    assert [element(e) for e in off_local] == [element(e) for e in our_local]
    # our letters are a subset of MedCom's (the rest is unsupported by design)
    off_letters = {e.local_name for e in off_repeat.iter_elements()} - {"Local_Elements"}
    our_letters = {e.local_name for e in our_repeat.iter_elements()} - {"Local_Elements"}
    assert our_letters == set(LETTERS[folder])
    assert our_letters <= off_letters
