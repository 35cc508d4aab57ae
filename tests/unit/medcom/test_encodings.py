"""windows-1252, ISO-8859-1 and UTF-8 declared encodings all read the same Danish letters."""

from __future__ import annotations

import pytest

from edigate.medcom import Validator
from tests.unit.medcom.conftest import example


def reencode(data: bytes, encoding: str, declared: str) -> bytes:
    text = data.decode("cp1252").replace('encoding="windows-1252"', f'encoding="{declared}"')
    return text.encode(encoding)


@pytest.mark.parametrize(
    ("encoding", "declared"),
    [("cp1252", "windows-1252"), ("latin-1", "ISO-8859-1"), ("utf-8", "UTF-8"), ("utf-8", "utf-8")],
)
def test_encodings(official: Validator, encoding: str, declared: str) -> None:
    result = official.validate(reencode(example("DIS91_1"), encoding, declared))
    assert result.valid, result.errors
    assert result.envelope is not None
    assert result.envelope.sender.organisation_name == "HILLERØD SYGEHUS"
    assert result.envelope.receiver.organisation_name == "Lægehuset"


def test_utf8_with_bom(official: Validator) -> None:
    data = b"\xef\xbb\xbf" + reencode(example("DIS91_1"), "utf-8", "UTF-8")
    assert official.validate(data).valid


def test_no_declaration_is_utf8(official: Validator) -> None:
    body = reencode(example("DIS91_1"), "utf-8", "UTF-8").split(b"?>", 1)[1]
    assert official.validate(body).valid
    latin = reencode(example("DIS91_1"), "latin-1", "x").split(b"?>", 1)[1]
    result = official.validate(latin)
    assert result.refuse_code == "syntaksfejl" and "tegnkodning" in result.errors[0].message


def test_declared_windows1252_but_utf8_bytes_is_read_as_declared(official: Validator) -> None:
    # Not detectable as an error (every byte is valid windows-1252); the names come out garbled but valid.
    data = reencode(example("DIS91_1"), "utf-8", "windows-1252")
    result = official.validate(data)
    assert result.envelope is not None
    assert result.envelope.sender.organisation_name != "HILLERØD SYGEHUS"
