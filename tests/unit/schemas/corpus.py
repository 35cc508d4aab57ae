"""The differential corpus: MedCom's example messages of the supported types plus mutations made from them.

Every mutation is derived deterministically from the parsed example with lxml, so the corpus is the same on
every run. A case carries bytes only; which verdict is right is decided by the oracle (lxml with MedCom's
official XSD), never by the corpus.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

CLASSIC = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/{}/"
NS_2005 = CLASSIC.format("2005/08/07")
NS_2006 = CLASSIC.format("2006/07/01")
NS_2009 = CLASSIC.format("2009/08/01")

# (namespace, first letter root) of the classic letters edigate supports.
SUPPORTED: frozenset[tuple[str, str]] = frozenset(
    {
        (NS_2005, "NotificationOfAdmission"),
        (NS_2005, "NotificationOfDischarge"),
        (NS_2005, "AnswerOfAdmission"),
        (NS_2005, "DischargeLetter"),
        (NS_2005, "HospitalReferral"),
        (NS_2005, "NegativeVansReceipt"),
        (NS_2005, "NegativeReceipt"),
        (NS_2005, "PositiveReceipt"),
        (NS_2006, "ClinicalEmail"),
        (NS_2009, "AdministrativeEmail"),
    }
)

# A classic namespace moved to another one that exists but declares other letters.
SIBLING_NAMESPACE = {NS_2005: NS_2006, NS_2006: NS_2005, NS_2009: NS_2006}
FOREIGN_NAMESPACE = "urn:example:not-medcom"

SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False)


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes


def letter_key(data: bytes) -> tuple[str, str] | None:
    """(namespace, first letter root) of a message."""
    root = etree.fromstring(data, SAFE_PARSER)
    if len(root) < 2:
        return None
    return etree.QName(root).namespace or "", etree.QName(root[1]).localname


def supported_examples(examples: Path) -> list[Path]:
    """The example files whose (namespace, letter root) edigate supports, sorted by name."""
    return [p for p in sorted(examples.glob("*.xml")) if letter_key(p.read_bytes()) in SUPPORTED]


# ----- tree helpers ---------------------------------------------------------------------------------


def _find(node: etree._Element, path: str) -> etree._Element | None:
    """Find by local names ("Sender/EANIdentifier") in the node's own namespace."""
    ns = etree.QName(node).namespace
    return node.find("/".join(f"{{{ns}}}{part}" for part in path.split("/")))


def _letter(tree: etree._Element) -> etree._Element:
    return tree[1]


def _set(scope: str, path: str, value: str) -> Callable[[etree._Element], bool]:
    def mutate(root: etree._Element) -> bool:
        node = _find(root if scope == "envelope" else _letter(root), path)
        if node is None:
            return False
        node.text = value
        return True

    return mutate


def _remove(scope: str, path: str) -> Callable[[etree._Element], bool]:
    def mutate(root: etree._Element) -> bool:
        node = _find(root if scope == "envelope" else _letter(root), path)
        if node is None:
            return False
        node.getparent().remove(node)
        return True

    return mutate


def _remove_first_optional(root: etree._Element) -> bool:
    for path in ("Patient/PersonGivenName", "Sender/DepartmentName", "Receiver/OrganisationName"):
        if _remove("letter", path)(root):
            return True
    return False


def _append_unexpected(where: str) -> Callable[[etree._Element], bool]:
    def mutate(root: etree._Element) -> bool:
        letter = _letter(root)
        target = letter if where == "letter-root" else _find(letter, where)
        if target is None:
            return False
        ns = etree.QName(root).namespace
        etree.SubElement(target, f"{{{ns}}}Unexpected").text = "x"
        return True

    return mutate


def _add_local_elements(root: etree._Element) -> bool:
    ns = etree.QName(root).namespace
    local = etree.Element(f"{{{ns}}}Local_Elements")
    etree.SubElement(local, "Note").text = "local data"
    _letter(root).addnext(local)
    return True


def _duplicate_letter(root: etree._Element) -> bool:
    _letter(root).addnext(copy.deepcopy(_letter(root)))
    return True


def _swap(scope_path: str, first: str, second: str) -> Callable[[etree._Element], bool]:
    def mutate(root: etree._Element) -> bool:
        parent = _letter(root) if scope_path == "" else _find(_letter(root), scope_path)
        if parent is None:
            return False
        a, b = _find(parent, first), _find(parent, second)
        if a is None or b is None:
            return False
        index_a, index_b = parent.index(a), parent.index(b)
        parent.remove(b)
        parent.insert(index_a, b)
        parent.remove(a)
        parent.insert(index_b, a)
        return True

    return mutate


def _first_postcode_empty(root: etree._Element) -> bool:
    ns = etree.QName(root).namespace
    node = _letter(root).find(f".//{{{ns}}}PostCodeIdentifier")
    if node is None:
        return False
    node.text = ""
    return True


def _other_version_code(root: etree._Element) -> bool:
    node = _find(_letter(root), "Letter/VersionCode")
    if node is None:
        return False
    node.text = "XD2030C" if node.text != "XD2030C" else "XD1730C"
    return True


def _renamespace(target: str) -> Callable[[etree._Element], bool]:
    def mutate(root: etree._Element) -> bool:
        source = etree.QName(root).namespace
        new_ns = SIBLING_NAMESPACE[source] if target == "sibling" else target
        for node in root.iter(etree.Element):
            qname = etree.QName(node)
            if qname.namespace == source:
                node.tag = f"{{{new_ns}}}{qname.localname}"
        etree.cleanup_namespaces(root)
        return True

    return mutate


# name -> tree mutation; a mutation returns False when it does not apply to the example.
TREE_MUTATIONS: dict[str, Callable[[etree._Element], bool]] = {
    "removed-required:Envelope/Identifier": _remove("envelope", "Envelope/Identifier"),
    "removed-required:Letter/Identifier": _remove("letter", "Letter/Identifier"),
    "removed-required:Sender/EANIdentifier": _remove("letter", "Sender/EANIdentifier"),
    "removed-required:Receiver": _remove("letter", "Receiver"),
    "removed-optional": _remove_first_optional,
    "bad-enum:AcknowledgementCode": _set("envelope", "Envelope/AcknowledgementCode", "pluspositivkvittering"),
    "bad-enum:StatusCode": _set("letter", "Letter/StatusCode", "gammeltbrev"),
    "bad-enum:IdentifierCode": _set("letter", "Sender/IdentifierCode", "cvrnummer"),
    "enum-amt:IdentifierCode": _set("letter", "Sender/IdentifierCode", "amt"),
    "overlong-id:Envelope/Identifier": _set("envelope", "Envelope/Identifier", "K" * 15),
    "overlong-id:Letter/Identifier": _set("letter", "Letter/Identifier", "B" * 15),
    "overlong-id:Sender/Identifier": _set("letter", "Sender/Identifier", "9" * 18),
    "boundary-id:Envelope/Identifier": _set("envelope", "Envelope/Identifier", "K" * 14),
    "bad-date:Envelope/Sent": _set("envelope", "Envelope/Sent/Date", "1999-02-30"),
    "bad-date:Letter/Authorisation": _set("letter", "Letter/Authorisation/Date", "24-01-2000"),
    "bad-time:Envelope/Sent": _set("envelope", "Envelope/Sent/Time", "24:00"),
    "bad-time:seconds-in-hh:mm": _set("envelope", "Envelope/Sent/Time", "12:10:00"),
    "bad-time:Letter/Authorisation/TimeWithSec": _set("letter", "Letter/Authorisation/TimeWithSec", "21:30"),
    "wrong-version:unknown": _set("letter", "Letter/VersionCode", "XD9999Z"),
    "wrong-version:other-type": _other_version_code,
    "wrong-typecode": _set("letter", "Letter/TypeCode", "XDIS99"),
    "bad-cpr": _set("letter", "Patient/CivilRegistrationNumber", "12345"),
    "empty-postcode": _first_postcode_empty,
    "extra-element:in-Letter": _append_unexpected("Letter"),
    "extra-element:in-Patient": _append_unexpected("Patient"),
    "extra-element:end-of-letter": _append_unexpected("letter-root"),
    "extra-element:Local_Elements": _add_local_elements,
    "two-letters": _duplicate_letter,
    "swapped-order:Identifier/VersionCode": _swap("Letter", "Identifier", "VersionCode"),
    "swapped-order:Sender/Receiver": _swap("", "Sender", "Receiver"),
    "wrong-namespace:foreign": _renamespace(FOREIGN_NAMESPACE),
    "wrong-namespace:sibling": _renamespace("sibling"),
}


def _serialise(root: etree._Element, encoding: str) -> bytes:
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding=encoding)


def _with_declaration(body: bytes, encoding: str) -> bytes:
    """Replace the XML declaration's encoding without touching the bytes after it."""
    end = body.index(b"?>") + 2
    return f'<?xml version="1.0" encoding="{encoding}"?>'.encode("ascii") + body[end:]


def _byte_mutations(original: bytes, root: etree._Element, encoding: str) -> Iterator[tuple[str, bytes]]:
    yield "truncated:half", original[: len(original) // 2]
    yield "truncated:last-tag", original[:-12]
    # Windows-1252 bytes (with at least one non-ASCII character) that claim to be UTF-8.
    marked = copy.deepcopy(root)
    marked.insert(0, etree.Comment(" Ærø Kommune "))
    yield (
        "wrong-encoding:cp1252-declared-utf8",
        _with_declaration(_serialise(marked, "windows-1252"), "UTF-8"),
    )
    # UTF-8 bytes that claim to be windows-1252: well-formed mojibake, verdict decided by the content.
    yield "wrong-encoding:utf8-declared-cp1252", _with_declaration(_serialise(root, "UTF-8"), "windows-1252")
    yield "reencoded:utf-8", _serialise(root, "UTF-8")
    yield "reencoded:iso-8859-1", _serialise(root, "ISO-8859-1")


def mutations(example: Path) -> Iterator[Case]:
    """The example itself, then every applicable mutation of it."""
    original = example.read_bytes()
    root = etree.fromstring(original, SAFE_PARSER)
    encoding = root.getroottree().docinfo.encoding or "UTF-8"
    yield Case(f"{example.name}:original", original)
    for name, mutate in TREE_MUTATIONS.items():
        mutated = copy.deepcopy(root)
        if mutate(mutated):
            yield Case(f"{example.name}:{name}", _serialise(mutated, encoding))
    for name, data in _byte_mutations(original, root, encoding):
        yield Case(f"{example.name}:{name}", data)


def build_corpus(examples: Path) -> list[Case]:
    return [case for example in supported_examples(examples) for case in mutations(example)]


# ----- element sweep: every element of every example, touched one at a time ---------------------------

_LEAF_VALUES = {"empty": "", "x": "x", "18-digits": "1" * 18, "36-chars": "a" * 36, "71-chars": "a" * 71}


def _sweep_one(root: etree._Element, index: int, operation: str) -> bool:
    node = list(root.iter(etree.Element))[index]
    parent = node.getparent()
    if operation in _LEAF_VALUES:
        if len(node):
            return False
        node.text = _LEAF_VALUES[operation]
        return True
    if parent is None:
        return False
    if operation == "remove":
        parent.remove(node)
    elif operation == "duplicate":
        node.addnext(copy.deepcopy(node))
    elif operation == "move-up":
        position = parent.index(node)
        if position == 0:
            return False
        parent.remove(node)
        parent.insert(position - 1, node)
    return True


def _local_path(node: etree._Element) -> str:
    steps = []
    current: etree._Element | None = node
    while current is not None:
        name = etree.QName(current).localname
        parent = current.getparent()
        if parent is not None:
            same = [s for s in parent if isinstance(s.tag, str) and etree.QName(s).localname == name]
            if len(same) > 1:
                name += f"[{same.index(current) + 1}]"
        steps.append(name)
        current = parent
    return "/".join(reversed(steps))


def element_sweep(examples: Path) -> Iterator[Case]:
    """Remove, duplicate, move up, and (for leaves) re-value each element of each supported example."""
    operations = ("remove", "duplicate", "move-up", *_LEAF_VALUES)
    for example in supported_examples(examples):
        root = etree.fromstring(example.read_bytes(), SAFE_PARSER)
        encoding = root.getroottree().docinfo.encoding or "UTF-8"
        for index, node in enumerate(root.iter(etree.Element)):
            where = _local_path(node)
            for operation in operations:
                mutated = copy.deepcopy(root)
                if _sweep_one(mutated, index, operation):
                    yield Case(f"{example.name}:{operation}:{where}", _serialise(mutated, encoding))
