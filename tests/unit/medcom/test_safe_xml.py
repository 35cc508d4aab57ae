"""Hostile and odd input is refused fast, clearly, and without touching files or the network."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edigate.medcom import Validator, XmlRefused, parse
from edigate.medcom.model import ValidationResult

QUICK = 0.5  # seconds; generous because the machine is shared


def timed(fn: Callable[[], ValidationResult]) -> tuple[ValidationResult, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def assert_refused(result: ValidationResult, elapsed: float, *words: str) -> str:
    assert not result.valid
    assert result.refuse_code == "syntaksfejl"
    assert elapsed < QUICK, f"took {elapsed:.3f}s"
    text = " ".join(e.message for e in result.errors)
    for word in words:
        assert word.lower() in text.lower(), text
    return text


@pytest.fixture
def validator(tmp_path: Path) -> Validator:
    # Hostile input is refused before any schema is needed, so an empty schema dir is enough.
    return Validator(tmp_path)


def test_xxe_file_entity_is_refused_and_file_never_read(validator: Validator, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-4711")
    data = (
        f'<?xml version="1.0"?><!DOCTYPE Emessage [<!ENTITY x SYSTEM "file://{secret}">]><Emessage>&x;</Emessage>'
    ).encode()
    result, elapsed = timed(lambda: validator.validate(data))
    assert_refused(result, elapsed, "DOCTYPE")
    assert "TOPSECRET" not in repr(result)


def test_xxe_network_entity_makes_no_connection(validator: Validator) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.3)
    port = listener.getsockname()[1]
    data = (f'<?xml version="1.0"?><!DOCTYPE E [<!ENTITY x SYSTEM "http://127.0.0.1:{port}/x">]><E>&x;</E>').encode()
    try:
        result, elapsed = timed(lambda: validator.validate(data))
        assert_refused(result, elapsed, "DOCTYPE")
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_billion_laughs_is_refused_without_expansion(validator: Validator) -> None:
    levels = "".join(f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    ents = '<!ENTITY a0 "lol">' + levels
    data = f'<?xml version="1.0"?><!DOCTYPE lolz [{ents}]><lolz>&a9;</lolz>'.encode()
    result, elapsed = timed(lambda: validator.validate(data))
    assert_refused(result, elapsed, "DOCTYPE")


def test_100k_deep_nesting_is_refused(validator: Validator) -> None:
    data = b"<a>" * 100_000 + b"</a>" * 100_000
    result, elapsed = timed(lambda: validator.validate(data))
    assert_refused(result, elapsed, "indlejret dybere")


def test_depth_limit_below_libxml2_is_enforced(tmp_path: Path) -> None:
    data = b"<a>" * 80 + b"</a>" * 80
    result = Validator(tmp_path, max_depth=64).validate(data)
    assert result.refuse_code == "syntaksfejl"
    assert "dybere end 64" in result.errors[0].message
    with pytest.raises(XmlRefused, match="dybere end 100"):
        parse(b"<a>" * 101 + b"</a>" * 101, max_depth=100)
    parse(b"<a>" * 100 + b"</a>" * 100, max_depth=100)  # exactly at the limit is fine


def test_binary_junk_is_refused(validator: Validator) -> None:
    junk = random.Random(4).randbytes(64 * 1024)
    result, elapsed = timed(lambda: validator.validate(junk))
    assert_refused(result, elapsed)
    assert result.envelope is None


@pytest.mark.parametrize("body", [b"", b"   \r\n\t "])
def test_empty_body_is_refused(validator: Validator, body: bytes) -> None:
    result, elapsed = timed(lambda: validator.validate(body))
    assert_refused(result, elapsed, "tom meddelelse")


def test_edifact_is_refused(validator: Validator) -> None:
    data = b"UNA:+.? 'UNB+UNOC:3+5790000120420:14+5790000181872:14+991111:1850+KUVERT1'UNH+1+MEDREF:D:93A'"
    result, elapsed = timed(lambda: validator.validate(data))
    assert_refused(result, elapsed, "EDIFACT")
    result, _ = timed(lambda: validator.validate(b"UNB+UNOC:3+579000012042"))
    assert "EDIFACT" in result.errors[0].message


def test_declared_utf8_with_latin1_bytes_is_a_syntax_error(validator: Validator) -> None:
    data = '<?xml version="1.0" encoding="UTF-8"?>\n<Emessage>Ærø sygehus</Emessage>'.encode("latin-1")
    result, elapsed = timed(lambda: validator.validate(data))
    text = assert_refused(result, elapsed, "tegnkodning")
    assert result.errors[0].line == 2, text


def test_declared_utf16_on_ascii_bytes_is_a_syntax_error(validator: Validator) -> None:
    data = b'<?xml version="1.0" encoding="UTF-16"?><Emessage/>'
    result, elapsed = timed(lambda: validator.validate(data))
    assert_refused(result, elapsed, "UTF-16")


def test_real_utf16_is_refused(validator: Validator) -> None:
    data = '<?xml version="1.0" encoding="UTF-16"?><Emessage/>'.encode("utf-16")
    result, elapsed = timed(lambda: validator.validate(data))
    assert_refused(result, elapsed, "UTF-16")


def test_oversize_is_refused_before_parsing(tmp_path: Path) -> None:
    data = b"<Emessage>" + b"x" * (6 * 1024 * 1024) + b"</Emessage>"
    result, elapsed = timed(lambda: Validator(tmp_path).validate(data))
    assert_refused(result, elapsed, "for stor", str(5 * 1024 * 1024))
    small = Validator(tmp_path, max_bytes=1000).validate(b"<a>" + b"x" * 2000 + b"</a>")
    assert "grænsen er 1000 bytes" in small.errors[0].message


def test_not_well_formed_reports_line(validator: Validator) -> None:
    data = b'<?xml version="1.0"?>\n<Emessage>\n<Envelope>\n</Emessage>'
    result = validator.validate(data)
    assert result.refuse_code == "syntaksfejl"
    assert result.errors[0].line == 4
    assert "ikke velformet" in result.errors[0].message


def test_plain_text_is_refused(validator: Validator) -> None:
    result = validator.validate(b"Hello, this is not XML")
    assert "begynder ikke med '<'" in result.errors[0].message


def test_non_medcom_xml_is_unsupported(validator: Validator) -> None:
    result = validator.validate(b'<Bundle xmlns="http://hl7.org/fhir"/>')
    assert result.refuse_code == "problem_med_version"
    assert result.errors[0].message == "meddelelsestypen understøttes ikke: http://hl7.org/fhir Bundle"
