"""Recognise a MedCom FHIR message by its content and read the few fields needed to route it to a
standard: the media type (JSON or XML), MessageHeader.eventCoding, Bundle.id and MessageHeader.id.

Small and defensive on purpose: the verdict on the message is the validator's; this only decides which
standard to ask it about. XML is read without DTDs, entities or network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
JSON_MEDIA_TYPE = "application/fhir+json"
XML_MEDIA_TYPE = "application/fhir+xml"
_XML_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Bundle[\s>/][^>]*xmlns(?::[\w.-]+)?=[\"']http://hl7\.org/fhir[\"']")
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class FhirMessageSummary:
    media_type: str
    bundle_id: str | None
    message_header_id: str | None
    event_system: str | None
    event_code: str | None


def fhir_media_type(body: bytes) -> str | None:
    """`application/fhir+json` for a JSON object naming resourceType Bundle, `application/fhir+xml` for an
    XML document whose root is {http://hl7.org/fhir}Bundle, else None (e.g. OIOXML's Emessage)."""
    head = body.removeprefix(_BOM).lstrip()
    if head.startswith(b"{"):
        return JSON_MEDIA_TYPE if re.search(rb'"resourceType"\s*:\s*"Bundle"', head[:65536]) else None
    if head.startswith(b"<"):
        return XML_MEDIA_TYPE if _XML_ROOT.search(head[:8192]) else None
    return None


def summarise(body: bytes, media_type: str) -> FhirMessageSummary:
    """The routing fields of a FHIR message Bundle; ValueError (a reason in Danish, as the CLI prints it) when it
    has none."""
    if media_type == JSON_MEDIA_TYPE:
        return _summarise_json(body)
    return _summarise_xml(body)


def _summarise_json(body: bytes) -> FhirMessageSummary:
    try:
        bundle = json.loads(body.removeprefix(_BOM))
    except (ValueError, RecursionError):
        raise ValueError("ikke gyldig JSON") from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("ikke en FHIR Bundle")
    header = _first_resource(bundle)
    coding = header.get("eventCoding") if isinstance(header, dict) else None
    coding = coding if isinstance(coding, dict) else {}
    return FhirMessageSummary(
        media_type=JSON_MEDIA_TYPE,
        bundle_id=_text(bundle.get("id")),
        message_header_id=_text(header.get("id")) if isinstance(header, dict) else None,
        event_system=_text(coding.get("system")),
        event_code=_text(coding.get("code")),
    )


def _first_resource(bundle: dict[str, Any]) -> Any:
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return None
    resource = entries[0].get("resource")
    return resource if isinstance(resource, dict) and resource.get("resourceType") == "MessageHeader" else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _summarise_xml(body: bytes) -> FhirMessageSummary:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("FHIR XML må ikke indeholde en DOCTYPE- eller ENTITY-erklæring")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        raise ValueError("ikke velformet XML") from None
    ns = {"f": FHIR_NS}
    if root.tag != f"{{{FHIR_NS}}}Bundle":
        raise ValueError("ikke en FHIR Bundle")

    def value(node: Any, path: str) -> str | None:
        found = node.xpath(f"{path}/@value", namespaces=ns) if node is not None else []
        return str(found[0]) if found else None

    headers = root.xpath("f:entry[1]/f:resource/f:MessageHeader", namespaces=ns)
    header = headers[0] if headers else None
    return FhirMessageSummary(
        media_type=XML_MEDIA_TYPE,
        bundle_id=value(root, "f:id"),
        message_header_id=value(header, "f:id"),
        event_system=value(header, "f:eventCoding/f:system"),
        event_code=value(header, "f:eventCoding/f:code"),
    )
