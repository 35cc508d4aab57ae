"""Fuzzing parse → validate → envelope with mutated real MedCom examples.

Property: Validator.validate never raises; an invalid verdict always carries a RefuseCode and an error;
a valid one always has an envelope; a patient's CPR never appears in an error message.
Bounded for CI (200 examples); set EDIGATE_FUZZ_EXAMPLES for a longer run.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edigate.medcom import Validator
from tests.conftest import EXAMPLES, OFFICIAL_XSD

EXAMPLE_NAMES = (
    "DIS91_1", "DIS91_3", "DIS20_1", "DIS17_1", "DIS14_1",
    "CTL02_1", "CTL03_1", "DIS01_1", "REF01_1", "RPT01_1",
)  # fmt: skip
MARKUP = (
    b"<x>", b"</Letter>", b"<Letter>", b"<!DOCTYPE a>", b"&amp;", b"&bogus;", b"<![CDATA[", b"]]>",
    b"\xff\xfe", b"<Break/>", b"<?pi x?>", b"<!-- c -->", b"\x00", b'"', b"<Emessage>", b"</Emessage>",
    b"<a b='1' b='2'/>",
    b"\xe6\xf8\xe5", b"<Identifier>ABCDEFGHIJKLMNOPQ</Identifier>", b"<VersionCode>XD0000X</VersionCode>",
)  # fmt: skip
MAX_EXAMPLES = int(os.environ.get("EDIGATE_FUZZ_EXAMPLES", "200"))

_validator: Validator | None = None


def validator() -> Validator:
    global _validator
    if _validator is None:
        _validator = Validator(OFFICIAL_XSD)
    return _validator


def originals() -> dict[str, bytes]:
    return {n: (EXAMPLES / f"{n}.xml").read_bytes() for n in EXAMPLE_NAMES if (EXAMPLES / f"{n}.xml").is_file()}


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bytes]:
    name = draw(st.sampled_from(EXAMPLE_NAMES))
    data = bytearray(ORIGINALS[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "duplicate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = draw(st.sampled_from(MARKUP))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 200))]
    return ORIGINALS[name], bytes(data)


ORIGINALS = originals()


def check(original: bytes, data: bytes) -> None:
    result = validator().validate(data)
    if result.valid:
        assert result.refuse_code is None and result.envelope is not None
    else:
        assert result.refuse_code in {"syntaksfejl", "problem_med_version"}
        assert result.errors and all(e.message for e in result.errors)
    for cpr in re.findall(rb"<CivilRegistrationNumber>(\d{10})<", original):
        assert cpr.decode() not in repr(result.errors)


@pytest.mark.skipif(not ORIGINALS or not OFFICIAL_XSD.is_dir(), reason="needs ../shared/medcom (examples + XSD)")
@settings(
    max_examples=MAX_EXAMPLES, deadline=None, derandomize=MAX_EXAMPLES <= 200, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)  # fmt: skip
@given(mutated())
def test_validate_never_raises(case: tuple[bytes, bytes]) -> None:
    check(*case)


@pytest.mark.skipif(not ORIGINALS or not OFFICIAL_XSD.is_dir(), reason="needs ../shared/medcom (examples + XSD)")
@pytest.mark.parametrize(
    "mutation",
    [
        lambda d: d[: len(d) // 2],
        lambda d: d.replace(b"<Envelope>", b"", 1),
        lambda d: d.replace(b"</Envelope>", b"</Envelope><Local_Elements/>", 1),
        lambda d: d.replace(b"2006/07/01/", b"2006/07/02/"),
        lambda d: d.replace(b"<ClinicalEmail>", b"<ClinicalEmail><Letter/>", 1),
        lambda d: re.sub(rb"<Patient>.*</Patient>", b"", d, flags=re.S),
        lambda d: d.replace(b"</Emessage>", b"<ClinicalEmail/></Emessage>"),
        lambda d: d.replace(b"</Emessage>", b"<PositiveReceipt/></Emessage>"),
        lambda d: d.replace(b"<Identifier>KuvertNr012234</Identifier>", b"<Identifier/>"),
    ],
)
def test_regressions(mutation) -> None:  # type: ignore[no-untyped-def]
    original = ORIGINALS["DIS91_1"]
    check(original, mutation(original))
