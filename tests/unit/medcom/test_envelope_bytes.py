"""The byte reader of valid messages (envelope_bytes) must give exactly what the tree reader gives.

Each case is validated twice: as shipped, and with the byte reader switched off (so the tree reader of
envelope.py answers). The two ValidationResults, the CPR included, must be equal. Cases: every MedCom
example and every mutation of the differential corpus, the project's samples, and hand-made layouts the
byte reader must either read right or hand back to the tree (comments, prefixes, character references,
pretty-printing, the same party bytes in two encodings).
"""

from __future__ import annotations

from html import escape
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edigate.medcom import Validator, envelope_bytes
from edigate.medcom import validator as validator_module
from edigate.medcom.model import ValidationResult
from tests.conftest import EXAMPLES, require_shared
from tests.unit.medcom import samples
from tests.unit.medcom.readers import tree_reader_only
from tests.unit.schemas import corpus

VALIDATOR = Validator()


def both(data: bytes) -> tuple[ValidationResult, ValidationResult]:
    fast = VALIDATOR.validate(data)
    with tree_reader_only():
        slow = VALIDATOR.validate(data)
    return fast, slow


def assert_same(data: bytes) -> ValidationResult:
    fast, slow = both(data)
    assert fast == slow
    if fast.envelope is not None:
        assert slow.envelope is not None
        cprs = [letter.patient_cpr for letter in fast.envelope.letters]
        assert cprs == [letter.patient_cpr for letter in slow.envelope.letters]
    return fast


def byte_reader_answers(data: bytes) -> bool:
    """Whether the byte reader itself reads this message (rather than handing it to the tree)."""
    calls: list[Any] = []
    real = validator_module.read_head  # type: ignore[attr-defined]

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        calls.append(result)
        return result

    validator_module.read_head = spy  # type: ignore[attr-defined]
    try:
        VALIDATOR.validate(data)
    finally:
        validator_module.read_head = real  # type: ignore[attr-defined]
    return any(result is not None for result in calls)


SAMPLES = {
    "xdis91": samples.xdis91_message,
    "xdis20": samples.xdis20_message,
    "ggop": samples.ggop_message,
    "xdis18": samples.xdis18_message,
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_are_read_from_bytes_and_equal_the_tree(name: str) -> None:
    data = SAMPLES[name]()
    result = assert_same(data)
    assert result.valid
    assert byte_reader_answers(data), "the hot path should not need the tree for this message"


def test_every_example_and_mutation_reads_the_same() -> None:
    require_shared()
    cases = corpus.build_corpus(EXAMPLES)
    read_from_bytes = 0
    for case in cases:
        assert_same(case.data)
        read_from_bytes += byte_reader_answers(case.data)
    for path in sorted(EXAMPLES.glob("*.xml")):
        assert_same(path.read_bytes())
    assert len(cases) > 300
    assert read_from_bytes > 20, "the byte reader was hardly used: the comparison proves little"


def _xdis20(**kwargs: Any) -> str:
    return samples.xdis20_message(**kwargs).decode("cp1252")


def _encode(text: str) -> bytes:
    return text.encode("cp1252")


LAYOUTS = {
    "comment in the envelope": lambda t: t.replace(
        "<Identifier>ENV", "<!-- <Identifier>X</Identifier> --><Identifier>ENV", 1
    ),
    "comment after the patient": lambda t: t.replace("</Patient>", "</Patient><!-- note -->", 1),
    "processing instruction": lambda t: t.replace("<Sender>", "<?edigate x?><Sender>", 1),
    "CDATA text": lambda t: t.replace(
        "<OrganisationName>Testsygehus Syd", "<OrganisationName><![CDATA[Testsygehus Syd]]>", 1
    ),
    "character reference in an id": lambda t: t.replace("<Identifier>ENV2", "<Identifier>&#69;NV2", 1),
    "entity in a party name": lambda t: t.replace("Testsygehus Syd", "Testsygehus Syd &amp; Øst", 1),
    "pretty-printed": lambda t: t.replace("><", ">\n  <"),
    "CRLF line ends": lambda t: t.replace("><", ">\r\n<"),
    "whitespace around values": lambda t: t.replace("<StatusCode>nytbrev", "<StatusCode>\n  nytbrev  ", 1),
    "episode under Patient": lambda t: t.replace(
        "</CivilRegistrationNumber>",
        "</CivilRegistrationNumber><EpisodeOfCareIdentifier>abc</EpisodeOfCareIdentifier>",
        1,
    ),
    "prefixed elements": lambda t: (
        t.replace("<", "<e:")
        .replace("<e:/", "</e:")
        .replace("<e:?xml", "<?xml")
        .replace('<e:Emessage xmlns="', '<e:Emessage xmlns:e="', 1)
    ),
    "xmlns on an inner element": lambda t: t.replace("<Sender>", '<Sender xmlns="' + samples.NS_2005 + '">', 1),
    "empty CPR": lambda t: t.replace("<CivilRegistrationNumber>0101709996", "<CivilRegistrationNumber>", 1),
    "two letters": lambda t: _second_letter(t),
    "comment after the letter": lambda t: t.replace("</Emessage>", "<!-- end --></Emessage>", 1),
    "xmlns on the letter root": lambda t: t.replace(
        "<NotificationOfAdmission>", '<NotificationOfAdmission xmlns="' + samples.NS_2005 + '">', 1
    ),
}


def _second_letter(text: str) -> str:
    """The same letter twice in one Emessage."""
    start = text.index("<NotificationOfAdmission>")
    end = text.index("</NotificationOfAdmission>") + len("</NotificationOfAdmission>")
    return text[:end] + text[start:end] + text[end:]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_unusual_layouts_read_the_same(layout: str) -> None:
    data = _encode(LAYOUTS[layout](_xdis20()))
    result = assert_same(data)
    if layout in ("comment after the patient", "pretty-printed", "prefixed elements"):
        assert byte_reader_answers(data), "an ordinary layout should stay on the byte path"
    if layout not in ("empty CPR",):
        assert result.envelope is not None and result.envelope.id.startswith("ENV")


def test_message_type_is_never_taken_from_a_look_alike_head() -> None:
    """The type learnt from one head is not reused for a message whose Emessage names another namespace."""
    valid = samples.xdis20_message()
    assert VALIDATOR.validate(valid).valid
    foreign = valid.replace(samples.NS_2005.encode(), b"urn:example:not-medcom", 1)
    result = assert_same(foreign)
    assert not result.valid and result.refuse_code == "problem_med_version"
    assert "meddelelsestypen understøttes ikke" in result.errors[0].message


def test_same_party_bytes_in_two_encodings_are_two_parties() -> None:
    cp1252 = samples.xdis20_message()  # OrganisationName "Testkommune Ærø" in windows-1252 bytes
    assert_same(cp1252)
    as_utf8_bytes = cp1252.decode("cp1252").encode("utf-8")
    latin_view = as_utf8_bytes.replace(b'encoding="windows-1252"', b'encoding="ISO-8859-1"', 1)
    first = assert_same(latin_view)  # UTF-8 bytes read as ISO-8859-1: other characters
    second = assert_same(as_utf8_bytes.replace(b'encoding="windows-1252"', b'encoding="UTF-8"', 1))
    assert first.envelope is not None and second.envelope is not None
    assert first.envelope.receiver.organisation_name != second.envelope.receiver.organisation_name
    assert second.envelope.receiver.organisation_name == "Testkommune Ærø"


def test_party_cache_is_bounded() -> None:
    for i in range(envelope_bytes._PARTIES_MAX + 10):
        assert_same(samples.xdis20_message(receiver_ean=f"57900001{i:05d}"))
    assert len(envelope_bytes._PARTIES) <= envelope_bytes._PARTIES_MAX


_NAME_CHARS = "abcæøåÆØÅ &<>\"'-.,/()0123456789é"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    envelope_id=st.text("ABCDEFGHJK0123456789", min_size=1, max_size=14),
    letter_id=st.text("ABCDEFGHJK0123456789", min_size=1, max_size=14),
    cpr=st.text("0123456789", min_size=10, max_size=10),
    status=st.sampled_from(["nytbrev", "rettetbrev"]),
    organisation=st.text(_NAME_CHARS, min_size=1, max_size=30),
    encoding=st.sampled_from(["windows-1252", "ISO-8859-1", "UTF-8"]),
    pretty=st.booleans(),
)
def test_generated_messages_read_the_same(
    envelope_id: str, letter_id: str, cpr: str, status: str, organisation: str, encoding: str, pretty: bool
) -> None:
    text = samples.xdis91_message(envelope_id=envelope_id, letter_id=letter_id, cpr=cpr, status=status).decode("cp1252")
    text = text.replace("Testkommune", escape(organisation), 1).replace("windows-1252", encoding, 1)
    if pretty:
        text = text.replace("><", ">\n  <")
    codec = {"windows-1252": "cp1252", "ISO-8859-1": "latin-1", "UTF-8": "utf-8"}[encoding]
    data = text.encode(codec, "replace")
    result = assert_same(data)
    if result.valid and result.envelope is not None:
        assert result.envelope.id == envelope_id and result.envelope.letters[0].patient_cpr == cpr
