"""Fixtures for the MedCom core tests: a validator on MedCom's OFFICIAL schemas (skips without ../shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edigate.medcom import Validator
from tests.conftest import EXAMPLES, OFFICIAL_XSD, require_shared

SAMBO_EXAMPLES = (
    "DIS91_1", "DIS91_2", "DIS91_3", "DIS20_1", "DIS17_1", "DIS14_1",
    "CTL01_1", "CTL02_1", "CTL03_1", "DIS01_1", "REF01_1",
)  # fmt: skip

_validator: Validator | None = None


@pytest.fixture
def official() -> Validator:
    """One Validator on ../shared/medcom/official-xsd for the whole run (schemas compile once)."""
    global _validator
    require_shared()
    if _validator is None:
        _validator = Validator(OFFICIAL_XSD)
    return _validator


def example(name: str) -> bytes:
    require_shared()
    return (EXAMPLES / f"{name}.xml").read_bytes()


def all_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.xml")) if EXAMPLES.is_dir() else []
