"""Issue 10 item 3, the pure parts: which Identifiers intake accepts, and what transports make of ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from edigate.delivery.transports import DirectoryTransport, PermanentDeliveryError, header_value
from edigate.medcom.ids import identifier_problem, is_valid_identifier, new_identifier
from edigate.store.model import QueuedMessage
from tests.unit.gateway.envelopes import envelope, positive_receipt

HOSTILE = ["PZ\nX-Evil: 1", "A\rB", "A\x00B", "A B", "ÆØÅ", "A\tB", "", "X" * 15, "A\u2028B", "A\x7fB"]


@pytest.mark.parametrize("value", HOSTILE)
def test_intake_refuses_identifiers_that_cannot_travel(value: str) -> None:
    assert not is_valid_identifier(value)
    assert identifier_problem(envelope(value)) == (
        "Envelope/Identifier skal være 1–14 synlige ASCII-tegn (uden mellemrum, linjeskift eller kontroltegn)"
    )
    assert identifier_problem(envelope("E1", ("L1", value))) is not None
    assert identifier_problem(positive_receipt("R1", envelope(value))) is not None


def test_intake_accepts_what_medcom_systems_send() -> None:
    for value in ("ENV91000000001", "K" * 14, "A-1.2_3/4", new_identifier("N")):
        assert is_valid_identifier(value), value
    assert identifier_problem(positive_receipt("R1", envelope("E1", ("L1", "L2")))) is None


@pytest.mark.parametrize(
    "value", ["PZ\nX-Evil: 1", "A\rB", "A\x00B", "ÆØÅ", "A\tB", "", "A\u2028B", "A\x7fB", " lead", "trail ", "x" * 201]
)
def test_http_header_values_are_refused_for_good(value: str) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        header_value("X-Edigate-Envelope-Id", value)
    assert "kan ikke sendes over HTTP" in str(err.value) and (not value or value not in str(err.value))


def test_http_header_keeps_ordinary_ids_and_inner_spaces() -> None:
    assert header_value("X", "ENV91000000001") == "ENV91000000001"
    assert header_value("X", "A B") == "A B"  # stored before intake refused spaces: still sendable


@pytest.mark.parametrize("value", [*HOSTILE, "../../etc/passwd", "a/b\\c", "CON", "x" * 5000])
def test_directory_file_names_are_always_legal(value: str) -> None:
    msg = QueuedMessage(7, value, "r", "s", "XDIS91", b"", 0, datetime.now(UTC), None)
    name = DirectoryTransport.filename(msg)
    assert name.startswith("000000000007-") and name.endswith(".xml")
    stem = name[len("000000000007-") : -len(".xml")]
    assert len(stem) <= 64 and all(c.isascii() and (c.isalnum() or c in "-_") for c in stem)
