"""The test-message generators: classic ones valid against the OFFICIAL XSD, municipality ones sized right."""

from __future__ import annotations

from datetime import datetime

import pytest

from edigate.medcom import Validator, extract_envelope, lookup, parse
from edigate.medcom.catalogue import NS_MUN_103, NS_MUN_104
from edigate.medcom.schemas import default_schema_dir
from tests.unit.medcom import samples

KW = dict(envelope_id="ENVX", letter_id="LETX", sender_ean="5790000000050", receiver_ean="5790000000067",
          cpr="0202029998", ack_code="minuspositivkvitt")  # fmt: skip


@pytest.mark.parametrize(
    ("make", "type_code"), [(samples.xdis91_message, "XDIS91"), (samples.xdis20_message, "XDIS20")]
)
def test_classic_samples_are_officially_valid(official: Validator, make, type_code: str) -> None:  # type: ignore[no-untyped-def]
    data = make(**KW)
    assert data.startswith(b'<?xml version="1.0" encoding="windows-1252"?>')
    result = official.validate(data)
    assert result.valid, result.errors
    env = result.envelope
    assert env is not None and result.message_type == type_code
    assert (env.id, env.letters[0].id, env.sender.ean, env.receiver.ean) == ("ENVX", "LETX", "5790000000050",
                                                                             "5790000000067")  # fmt: skip
    assert env.letters[0].patient_cpr == "0202029998" and not env.ack_requested
    assert official.validate(make()).envelope.ack_requested  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("make", "ns", "root", "type_code", "low", "high"),
    [
        (samples.ggop_message, NS_MUN_104, "RehabilitationPlan", "GGOP", 18_000, 21_000),
        (samples.xdis18_message, NS_MUN_103, "ReportOfDischarge", "XDIS18", 17_000, 20_000),
    ],
)
def test_municipality_samples(make, ns: str, root: str, type_code: str, low: int, high: int) -> None:  # type: ignore[no-untyped-def]
    data = make(**KW, sent=datetime(2026, 1, 2, 3, 4))
    assert low <= len(data) <= high
    mtype = lookup(ns, root)
    assert mtype is not None and mtype.type_code == type_code
    env = extract_envelope(parse(data), mtype)
    assert env is not None
    assert (env.id, env.letters[0].id, env.sender.ean, env.receiver.ean) == ("ENVX", "LETX", "5790000000050",
                                                                             "5790000000067")  # fmt: skip
    assert env.sent == datetime(2026, 1, 2, 3, 4)
    assert env.letters[0].version_code in mtype.version_codes
    assert env.letters[0].patient_cpr == "0202029998"


@pytest.mark.parametrize("make", [samples.ggop_message, samples.xdis18_message])
def test_municipality_samples_valid_with_project_schemas(make) -> None:  # type: ignore[no-untyped-def]
    """Against the project's own 1.0.x schemas (written in schemas/medcom by the schema work)."""
    mtype_file = "1.0.4/EMessage.xsd" if make is samples.ggop_message else "1.0.3/EMessage.xsd"
    if not (default_schema_dir() / mtype_file).is_file():
        pytest.skip(f"project schema {mtype_file} not present yet in {default_schema_dir()}")
    result = Validator().validate(make())
    assert result.valid, result.errors
