"""Verdicts on MedCom's own example messages, with MedCom's official schemas."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from lxml import etree

from edigate.medcom import SchemaUnavailable, Validator, all_types, by_version_code, lookup
from edigate.medcom.catalogue import CATALOGUE, NS_2005, NS_2006, NS_MUN_103
from edigate.medcom.explain import Explainer
from tests.unit.medcom.conftest import SAMBO_EXAMPLES, all_examples, example


def test_every_example_gets_a_verdict(official: Validator) -> None:
    files = all_examples()
    assert len(files) >= 40
    for path in files:
        result = official.validate(path.read_bytes())
        assert result.valid or result.refuse_code in {"syntaksfejl", "problem_med_version"}, path.name
        assert result.envelope is not None, path.name  # well-formed: ids are always readable


@pytest.mark.parametrize("name", SAMBO_EXAMPLES)
def test_sambo_examples_are_valid(official: Validator, name: str) -> None:
    result = official.validate(example(name))
    assert result.valid, (name, result.errors)
    assert result.refuse_code is None and result.errors == ()


@pytest.mark.parametrize("name", ["BIN01_1", "RPT01_1", "PRE01_1", "REQ01_1", "REF06_1", "DIS02_1", "DIS13_1"])
def test_other_families_are_unsupported(official: Validator, name: str) -> None:
    result = official.validate(example(name))
    assert not result.valid
    assert result.refuse_code == "problem_med_version"
    assert result.errors[0].message.startswith("meddelelsestypen understøttes ikke: http://rep.oio.dk/")
    assert result.message_type is None
    assert result.envelope is not None and result.envelope.id  # a negative receipt can still name it


def test_dis91_envelope_fields(official: Validator) -> None:
    env = official.validate(example("DIS91_1")).envelope
    assert env is not None
    assert env.id == "KuvertNr012234"
    assert env.sent == datetime(1998, 12, 13, 12, 10)
    assert env.acknowledgement_code == "minuspositivkvitt" and not env.ack_requested
    assert env.namespace == NS_2006 and env.message_type == "XDIS91"
    (letter,) = env.letters
    assert (letter.id, letter.type, letter.root) == ("BrevNr00129", "XDIS91", "ClinicalEmail")
    assert (letter.version_code, letter.statistical_code, letter.status) == ("XD9134L", "XDIS91", "nytbrev")
    assert env.sender.ean == "5790000120400"
    assert (env.sender.identifier, env.sender.identifier_code) == ("2001060", "sygehusafdelingsnummer")
    assert env.sender.organisation_name == "HILLERØD SYGEHUS"
    assert env.receiver.ean == "5790000128700" and env.receiver.unit_name == "Else Nielsen"
    assert letter.patient_cpr == "1502824933"
    assert "1502824933" not in repr(env)  # CPR is held, never printed
    assert not env.is_receipt


def test_dis91_2_episode_of_care(official: Validator) -> None:
    env = official.validate(example("DIS91_2")).envelope
    assert env is not None and env.letters[0].episode_of_care_id


@pytest.mark.parametrize(
    ("name", "type_code", "version", "envelope_id", "sender", "receiver"),
    [
        ("DIS20_1", "XDIS20", "XD2030C", "123456789", "5790000143054", "5790000143055"),
        ("DIS17_1", "XDIS17", "XD1730C", "123456789", "5790000143054", "5790000143055"),
        ("DIS14_1", "XDIS14", "XD1431C", "I3LPUBLS0194UL", "5790000121236", "5790000143054"),
        ("DIS01_1", "XDIS01", "XD0133L", "KuvertNr012234", "5790000120420", "5790000128686"),
        ("REF01_1", "XREF01", "XH0130R", "Kuv1234", "5790000121526", "5790000201389"),
        ("DIS91_3", "XDIS90", "XD9034L", "MedCom19", "570000121526", "570000120314"),
    ],
)
def test_envelope_fields(
    official: Validator, name: str, type_code: str, version: str, envelope_id: str, sender: str, receiver: str
) -> None:
    result = official.validate(example(name))
    env = result.envelope
    assert env is not None
    assert (result.message_type, result.version_code) == (type_code, version)
    assert (env.id, env.sender.ean, env.receiver.ean) == (envelope_id, sender, receiver)
    assert env.letters[0].version_code == version and env.letters[0].type == type_code
    assert env.sent is not None


def test_receipt_content_positive(official: Validator) -> None:
    env = official.validate(example("CTL03_1")).envelope
    assert env is not None and env.is_receipt and env.receipt is not None
    rc = env.receipt
    assert rc.kind == "positive"
    assert rc.original_envelope_id == "MEDREF01095"
    assert (rc.original_sender_ean, rc.original_receiver_ean) == ("5790000181872", "5790000120420")
    assert [(o.letter_id, o.version_code) for o in rc.original_letters] == [("1111FRE01095", "H0130R")]


def test_receipt_content_negative_per_letter(official: Validator) -> None:
    env = official.validate(example("CTL02_1")).envelope
    assert env is not None and env.receipt is not None
    rc = env.receipt
    assert rc.kind == "negative" and rc.refuse_code is None
    ((letter_id, code, text),) = rc.letter_refusals
    assert (letter_id, code) == ("1111MAN01095", "problem_med_version")
    assert text is not None and text.startswith("EDI-brev med nummeret 1111MAN01095")


def test_negative_vans_receipt_envelope_wide(official: Validator) -> None:
    env = official.validate(example("CTL01_1")).envelope
    assert env is not None and env.receipt is not None
    assert env.receipt.kind == "negative_vans"
    assert env.receipt.refuse_code == "ukendt_lokationsnummer"
    assert len(env.receipt.original_letters) == 2


def test_wrong_version_code_is_problem_med_version(official: Validator) -> None:
    data = example("DIS20_1").replace(b"<VersionCode>XD2030C<", b"<VersionCode>XD2031C<")
    result = official.validate(data)
    assert result.refuse_code == "problem_med_version"
    assert "XD2031C" in result.errors[0].message and "XD2030C" in result.errors[0].message
    assert result.envelope is not None and result.envelope.id == "123456789"


def test_schema_failure_is_syntaksfejl_with_readable_errors(official: Validator) -> None:
    data = (
        example("DIS91_1")
        .replace(b"<StatusCode>nytbrev<", b"<StatusCode>nyt<")
        .replace(b"<Subject>", b"<Unexpected/><Subject>")
    )
    result = official.validate(data)
    assert not result.valid and result.refuse_code == "syntaksfejl"
    paths = {e.path for e in result.errors}
    assert "/Emessage/ClinicalEmail/Letter/StatusCode" in paths
    assert all(e.line == 2 for e in result.errors)
    assert any("nytbrev" in e.message for e in result.errors)  # what was expected
    assert any("Unexpected" in e.message for e in result.errors)
    # invalid but well-formed: the envelope is still read, so a negative receipt can name the original
    assert result.envelope is not None and result.envelope.letters[0].id == "BrevNr00129"


def test_invalid_cpr_value_is_not_repeated_in_errors(official: Validator) -> None:
    data = example("DIS91_1").replace(b"1502824933", b"150282493")
    result = official.validate(data)
    assert result.refuse_code == "syntaksfejl"
    assert "150282493" not in repr(result.errors)


def test_missing_envelope_identifier(official: Validator) -> None:
    data = example("DIS20_1").replace(b"<Identifier>123456789</Identifier>", b"")
    result = official.validate(data)
    assert result.refuse_code == "syntaksfejl"
    assert result.envelope is not None and result.envelope.id == ""


def test_lxml_fallback_when_xmlschema_cannot_load(tmp_path: Path) -> None:
    xsd = b'<xs:element name="a" type="xs:int"/>'
    schema = etree.XMLSchema(
        etree.XML(b'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">' + xsd + b"</xs:schema>")
    )
    tree = etree.ElementTree(etree.XML(b"<a>x</a>"))
    assert not schema.validate(tree)
    errors = Explainer().explain(tree, tmp_path / "absent.xsd", schema.error_log, 10)
    assert errors and errors[0].line == 1 and "int" in errors[0].message


def test_catalogue_lookup() -> None:
    assert lookup(NS_2006, "ClinicalEmail") is not None
    assert lookup(NS_2005, "ClinicalEmail") is None  # the 2005 ClinicalEmail (XD9133L) is not supported
    xdis19 = lookup(NS_MUN_103, "SomeUnverifiedRoot", "XD1934C")
    assert xdis19 is not None and xdis19.type_code == "XDIS19"
    assert lookup(NS_MUN_103, "SomeUnverifiedRoot", "XD1834C") is None  # XDIS18's root is verified
    ggop = by_version_code("GGOP100")
    assert ggop is not None and ggop.root == "RehabilitationPlan" and ggop.schema_file == "1.0.4/EMessage.xsd"
    codes = [code for code, _ in all_types()]
    for code in (
        "XDIS91",
        "XDIS90",
        "XDIS20",
        "XDIS17",
        "XDIS14",
        "XDIS01",
        "XREF01",
        "XCTL01",
        "XCTL02",
        "XCTL03",
        "GGOP",
        "XDIS18",
        "XDIS16",
        "XDIS19",
        "XDIS21",
    ):
        assert code in codes
    assert dict(all_types())["XDIS20"] == "Indlæggelsesadvis"
    keyed = [(t.namespace, t.root) for t in CATALOGUE if t.root is not None]
    assert len(set(keyed)) == len(keyed)
    versions = [v for t in CATALOGUE for v in t.version_codes]
    assert len(set(versions)) == len(versions)


def test_missing_schema_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SchemaUnavailable, match=r"2006/07/01/EMessage\.xsd"):
        Validator(tmp_path).validate(example("DIS91_1"))
    assert len(Validator(tmp_path).check_schemas()) >= 5
