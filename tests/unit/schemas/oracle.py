"""Bare-lxml verdicts: parse safely, pick the entry schema by the root's namespace, validate.

This is the reference procedure of the differential test. Run against MedCom's official bundle it is the
oracle; run against edigate's shipped schemas it measures how far those are from the official ones. It does
not use edigate.medcom on purpose, so the Validator can be compared with it.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from lxml import etree

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "schemas" / "medcom"

_CLASSIC = re.compile(r"^http://rep\.oio\.dk/sundcom\.dk/medcom\.dk/xml/schemas/(\d{4})/(\d{2})/(\d{2})/$")
_MUNICIPALITY = re.compile(r"^urn:oio:medcom:municipality:(\d+\.\d+\.\d+)$")


def entry_file(schema_dir: Path, namespace: str | None) -> Path | None:
    """MedCom's layout: <yyyy>/<mm>/<dd>/EMessage.xsd for classic, <x.y.z>/EMessage.xsd for municipality."""
    if namespace is None:
        return None
    if m := _CLASSIC.match(namespace):
        path = schema_dir.joinpath(*m.groups(), "EMessage.xsd")
    elif m := _MUNICIPALITY.match(namespace):
        path = schema_dir / m.group(1) / "EMessage.xsd"
    else:
        return None
    return path if path.is_file() else None


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@cache
def compiled(entry: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(entry), _parser()))


def lxml_verdict(data: bytes, schema_dir: Path) -> bool:
    """True when the bytes are well-formed and valid against the entry schema for their root namespace."""
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        return False
    entry = entry_file(schema_dir, etree.QName(root).namespace)
    if entry is None:
        return False
    return compiled(entry).validate(root)
