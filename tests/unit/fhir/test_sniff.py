"""`edigate validate` reads a FHIR file's routing fields first (edigate.fhir.sniff): what it cannot read is
said in Danish, as every answer the product gives its users, and quotes nothing of the file."""

from __future__ import annotations

import pytest

from edigate.fhir.sniff import JSON_MEDIA_TYPE, XML_MEDIA_TYPE, summarise


@pytest.mark.parametrize(
    ("body", "media_type", "says"),
    [
        (b'{"resourceType": "Bundle", "id": 0101', JSON_MEDIA_TYPE, "ikke gyldig JSON"),
        (b'{"resourceType": "Patient", "id": "0101001234"}', JSON_MEDIA_TYPE, "ikke en FHIR Bundle"),
        (b'<Patient xmlns="http://hl7.org/fhir"><id value="x"/></Patient>', XML_MEDIA_TYPE, "ikke en FHIR Bundle"),
        (b'<Bundle xmlns="http://hl7.org/fhir"><id value="0101001234"/>', XML_MEDIA_TYPE, "ikke velformet XML"),
        (
            b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Bundle xmlns="http://hl7.org/fhir"/>',
            XML_MEDIA_TYPE,
            "FHIR XML må ikke indeholde en DOCTYPE- eller ENTITY-erklæring",
        ),
    ],
)
def test_an_unreadable_file_is_said_in_danish(body: bytes, media_type: str, says: str) -> None:
    with pytest.raises(ValueError, match="^" + says) as caught:
        summarise(body, media_type)
    assert "0101" not in str(caught.value)


def test_a_message_bundle_gives_its_routing_fields() -> None:
    body = (
        b'{"resourceType": "Bundle", "id": "b1", "type": "message", "entry": [{"resource": {"resourceType": '
        b'"MessageHeader", "id": "h1", "eventCoding": {"system": "s", "code": "care-communication-message"}}}]}'
    )
    summary = summarise(body, JSON_MEDIA_TYPE)
    assert (summary.bundle_id, summary.message_header_id, summary.event_code) == (
        "b1",
        "h1",
        "care-communication-message",
    )
