"""Writing FHIR resources edigate builds (Acknowledgements, OperationOutcomes) as JSON or XML.

The resources are dicts whose keys are already in FHIR's element order, so the XML follows the order the
XML schema and the validator demand. An lxml element in place of a resource (an Organization quoted from
an XML message) is copied as it is.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from lxml import etree

FHIR_NS = "http://hl7.org/fhir"
_ATTRIBUTE_KEYS = frozenset({"url"})  # extension.url is an attribute in FHIR XML


def to_json(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def to_xml(resource: dict[str, Any]) -> bytes:
    root = etree.Element(f"{{{FHIR_NS}}}{resource['resourceType']}", nsmap={None: FHIR_NS})
    _fill(root, resource)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def encode(resource: dict[str, Any], encoding: str) -> bytes:
    return to_json(resource) if encoding == "json" else to_xml(resource)


def _fill(el: Any, node: dict[str, Any]) -> None:
    for key, value in node.items():
        if key == "resourceType":
            continue
        if key in _ATTRIBUTE_KEYS and isinstance(value, str):
            el.set(key, value)
            continue
        for item in value if isinstance(value, list) else [value]:
            child = etree.SubElement(el, f"{{{FHIR_NS}}}{key}")
            if isinstance(item, etree._Element):
                child.append(copy.deepcopy(item))
            elif isinstance(item, dict) and "resourceType" in item:
                inner = etree.SubElement(child, f"{{{FHIR_NS}}}{item['resourceType']}")
                _fill(inner, item)
            elif isinstance(item, dict):
                _fill(child, item)
            elif isinstance(item, bool):
                child.set("value", "true" if item else "false")
            else:
                child.set("value", str(item))
