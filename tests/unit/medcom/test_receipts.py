"""Every generated receipt validates against MedCom's OFFICIAL 2005/08/07 schema and never carries a CPR."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml import etree

from edigate.medcom import (
    REFUSE_CODES,
    OriginalLetterRef,
    OriginalMessage,
    Validator,
    build_negative_receipt,
    build_positive_receipt,
    extract_envelope,
    is_valid_identifier,
    lookup,
    new_identifier,
    parse,
)
from edigate.medcom.catalogue import NS_2005, NS_MUN_103, NS_MUN_104
from tests.conftest import OFFICIAL_XSD, require_shared
from tests.unit.medcom import samples
from tests.unit.medcom.conftest import SAMBO_EXAMPLES, example

SENT = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
_schema: etree.XMLSchema | None = None


def official_2005() -> etree.XMLSchema:
    global _schema
    require_shared()
    if _schema is None:
        _schema = etree.XMLSchema(etree.parse(str(OFFICIAL_XSD / "2005/08/07/EMessage.xsd")))
    return _schema


def assert_official_valid(receipt: bytes) -> etree._Element:
    schema = official_2005()
    root = etree.fromstring(receipt)
    assert schema.validate(root), schema.error_log
    assert etree.QName(root).namespace == NS_2005
    return root


@pytest.mark.parametrize("name", SAMBO_EXAMPLES)
def test_receipts_for_every_example_type(official: Validator, name: str) -> None:
    original = official.validate(example(name)).envelope
    assert original is not None
    cpr = original.letters[0].patient_cpr
    pos = build_positive_receipt(original, envelope_id=new_identifier("R"), letter_id=new_identifier(), sent=SENT)
    assert_official_valid(pos)
    for code in REFUSE_CODES:
        for per_letter in (False, True):
            neg = build_negative_receipt(
                original, envelope_id="E1", letter_id="L1", sent=SENT, refuse_code=code,
                refuse_text=f"Afvist: {code}", per_letter=per_letter,
            )  # fmt: skip
            assert_official_valid(neg)
            if cpr:
                assert cpr.encode() not in neg
    if cpr:
        assert cpr.encode() not in pos


def test_positive_receipt_content_round_trips(official: Validator) -> None:
    original = official.validate(example("DIS91_1")).envelope
    assert original is not None
    data = build_positive_receipt(original, envelope_id="RCPT1", letter_id="RL1", sent=SENT)
    result = official.validate(data)
    assert result.valid and result.message_type == "XCTL03"
    env = result.envelope
    assert env is not None and env.receipt is not None
    assert env.acknowledgement_code == "minuspositivkvitt"
    assert env.sent == datetime(2026, 11, 20, 10, 15)  # Danish local time (CET)
    assert (env.sender.ean, env.receiver.ean) == (original.receiver.ean, original.sender.ean)
    assert env.receipt.original_envelope_id == original.id
    assert env.receipt.original_sender_ean == original.sender.ean
    assert [o.letter_id for o in env.receipt.original_letters] == ["BrevNr00129"]
    assert env.receipt.original_letters[0].version_code == "XD9134L"


def test_negative_receipt_content_round_trips(official: Validator) -> None:
    original = official.validate(example("DIS20_1")).envelope
    assert original is not None
    data = build_negative_receipt(
        original, envelope_id="RCPT2", letter_id="RL2", sent=SENT, refuse_code="ukendt_lokationsnummer",
        refuse_text="Modtager ukendt.\nKontakt EDI-support.", sender_ean="5790000000012",
    )  # fmt: skip
    result = official.validate(data)
    assert result.valid and result.message_type == "XCTL02"
    env = result.envelope
    assert env is not None and env.receipt is not None
    assert env.sender.ean == "5790000000012"
    assert env.receipt.refuse_code == "ukendt_lokationsnummer"
    assert env.receipt.refuse_text == "Modtager ukendt.\nKontakt EDI-support."


def test_refuse_text_is_cleaned_and_bounded() -> None:
    original = OriginalMessage("ENV1", "5790000000029", "5790000000036", (OriginalLetterRef("L1", "XD9134L"),))
    text = "CPR 150282-4933 og 1502824933 er forkert\x00\x07 " + "x" * 2000
    data = build_negative_receipt(
        original, envelope_id="E", letter_id="L", sent=SENT, refuse_code="syntaksfejl", refuse_text=text
    )
    assert_official_valid(data)
    assert b"4933" not in data
    refuse = etree.fromstring(data).find(f".//{{{NS_2005}}}RefuseText")
    assert refuse is not None and refuse.text is not None and len(refuse.text) <= 350


def test_partial_original_still_gives_valid_receipt() -> None:
    # Only the envelope id and sender could be read; the letter is unknown, the id over-long.
    partial = OriginalMessage("ENVELOPE-ID-THAT-IS-TOO-LONG", "5790000000029", None, (OriginalLetterRef("", None),))
    data = build_negative_receipt(
        partial, envelope_id="E", letter_id="L", sent=SENT, refuse_code="syntaksfejl",
        refuse_text="Ikke læsbar", sender_ean="5790000000043", per_letter=True,
    )  # fmt: skip
    root = assert_official_valid(data)
    assert root.findtext(f".//{{{NS_2005}}}OriginalEnvelopeIdentifier") == "ENVELOPE-ID-TH"
    assert root.findtext(f".//{{{NS_2005}}}RefuseCode") == "syntaksfejl"


def test_receipt_needs_original_envelope_id_and_eans() -> None:
    with pytest.raises(ValueError, match="original envelope id"):
        build_positive_receipt(OriginalMessage("", "1", "2"), envelope_id="E", letter_id="L", sent=SENT)
    with pytest.raises(ValueError, match="EAN"):
        build_positive_receipt(OriginalMessage("X", None, "2"), envelope_id="E", letter_id="L", sent=SENT)
    with pytest.raises(ValueError, match="RefuseCode"):
        build_negative_receipt(
            OriginalMessage("X", "1", "2"), envelope_id="E", letter_id="L", sent=SENT,
            refuse_code="bad", refuse_text="",
        )  # fmt: skip
    with pytest.raises(ValueError, match="1–14"):
        build_positive_receipt(OriginalMessage("X", "1", "2"), envelope_id="E" * 15, letter_id="L", sent=SENT)


@pytest.mark.parametrize(
    ("make", "namespace", "root"),
    [
        (samples.ggop_message, NS_MUN_104, "RehabilitationPlan"),
        (samples.xdis18_message, NS_MUN_103, "ReportOfDischarge"),
    ],
)
def test_receipts_for_municipality_messages(make, namespace: str, root: str) -> None:  # type: ignore[no-untyped-def]
    original = extract_envelope(parse(make()), lookup(namespace, root))
    assert original is not None and original.letters[0].patient_cpr == samples.FICTITIOUS_CPR
    for data in (
        build_positive_receipt(original, envelope_id="E", letter_id="L", sent=SENT),
        build_negative_receipt(
            original,
            envelope_id="E",
            letter_id="L",
            sent=SENT,
            refuse_code="problem_med_version",
            refuse_text="x",
        ),
    ):
        assert_official_valid(data)
        assert samples.FICTITIOUS_CPR.encode() not in data


def test_new_identifier() -> None:
    ids = {new_identifier() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 14 and is_valid_identifier(i) for i in ids)
    assert new_identifier("R").startswith("R")
    assert not is_valid_identifier("") and not is_valid_identifier("x" * 15) and not is_valid_identifier("a b")
