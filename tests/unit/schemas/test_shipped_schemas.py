"""The shipped schemas on their own: they compile in lxml and xmlschema, resolve locally, are not copies of
MedCom's files, and the municipality 1.0.x schemas are strict on envelope/letter/parties/patient and
lenient on the clinical body."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from tests.conftest import require_shared
from tests.unit.schemas.oracle import SHIPPED, entry_file

ENTRY_FILES = ("2005/08/07", "2006/07/01", "2009/08/01", "1.0.3", "1.0.4")
MC = "urn:oio:medcom:municipality:1.0.0"
M103 = "urn:oio:medcom:municipality:1.0.3"
M104 = "urn:oio:medcom:municipality:1.0.4"
CPR_NS = "http://rep.oio.dk/cpr.dk/xml/schemas/core/2002/06/28/"
XS = "{http://www.w3.org/2001/XMLSchema}"


def _all_xsd() -> list[Path]:
    return sorted(SHIPPED.rglob("*.xsd"))


@pytest.mark.parametrize("folder", ENTRY_FILES)
def test_entry_file_compiles_in_lxml_and_xmlschema(folder: str) -> None:
    path = SHIPPED / folder / "EMessage.xsd"
    etree.XMLSchema(etree.parse(str(path)))
    schema = xmlschema.XMLSchema(str(path))
    assert schema.elements["Emessage"] is not None


def test_imports_and_includes_resolve_locally() -> None:
    for xsd in _all_xsd():
        for ref in etree.parse(str(xsd)).iter(f"{XS}include", f"{XS}import", f"{XS}redefine"):
            location = ref.get("schemaLocation")
            assert location, f"{xsd}: {ref.tag} without schemaLocation"
            assert "://" not in location, f"{xsd}: remote schemaLocation {location}"
            assert (xsd.parent / location).resolve().is_file(), f"{xsd}: {location} not found"


def test_no_file_is_a_copy_of_an_official_one() -> None:
    official = require_shared() / "official-xsd"
    digests = {hashlib.sha256(p.read_bytes()).hexdigest(): p for p in official.rglob("*.xsd")}
    copies = [(p, digests[d]) for p in _all_xsd() if (d := hashlib.sha256(p.read_bytes()).hexdigest()) in digests]
    assert not copies, f"byte-identical to MedCom's files: {copies}"


# ----- municipality 1.0.x --------------------------------------------------------------------------


@cache
def _schema(namespace: str) -> etree.XMLSchema:
    entry = entry_file(SHIPPED, namespace)
    assert entry is not None, namespace
    return etree.XMLSchema(etree.parse(str(entry)))


def _verdict(root: etree._Element) -> bool:
    return _schema(etree.QName(root).namespace).validate(root)


def _ggop() -> etree._Element:
    samples = pytest.importorskip("tests.unit.medcom.samples")
    return etree.fromstring(samples.ggop_message())


def _xdis18() -> etree._Element:
    samples = pytest.importorskip("tests.unit.medcom.samples")
    return etree.fromstring(samples.xdis18_message())


def _node(root: etree._Element, path: str) -> etree._Element:
    """Path of local names below the letter root; names of 1.0.0 elements are prefixed 'c:'."""
    node = root[1]
    for step in path.split("/"):
        ns = MC if step.startswith("c:") else etree.QName(root).namespace
        found = node.find(f"{{{ns}}}{step.removeprefix('c:')}")
        assert found is not None, f"{step} not in {node.tag}"
        node = found
    return node


def _remove(path: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        node = _node(root, path)
        node.getparent().remove(node)

    return mutate


def _set(path: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        _node(root, path).text = value

    return mutate


def _envelope_set(child: str, value: str) -> Callable[[etree._Element], None]:
    def mutate(root: etree._Element) -> None:
        envelope = root.find(f"{{{MC}}}Envelope")
        for node in envelope.iter(f"{{{MC}}}{child}"):
            node.text = value
            return

    return mutate


def _swap_sender_receiver(root: etree._Element) -> None:
    letter = root[1]
    sender = letter.find(f"{{{MC}}}Sender")
    letter.remove(sender)
    letter.find(f"{{{MC}}}Receiver").addnext(sender)


def _patient_without_cpr(root: etree._Element) -> None:
    _remove("c:Patient/c:CivilRegistrationNumber")(root)


BROKEN: dict[str, Callable[[etree._Element], None]] = {
    "Envelope without Identifier": lambda r: r.find(f"{{{MC}}}Envelope").remove(
        r.find(f"{{{MC}}}Envelope/{{{MC}}}Identifier")
    ),
    "Envelope date 2026-02-30": _envelope_set("Date", "2026-02-30"),
    "Envelope time 25:00": _envelope_set("Time", "25:00"),
    "Envelope Identifier of 15 characters": _envelope_set("Identifier", "E" * 15),
    "AcknowledgementCode not in the list": _envelope_set("AcknowledgementCode", "altid"),
    "Letter without VersionCode": _remove("c:Letter/c:VersionCode"),
    "Letter Identifier of 15 characters": _set("c:Letter/c:Identifier", "L" * 15),
    "Letter StatusCode not in the list": _set("c:Letter/c:StatusCode", "gammeltbrev"),
    "Sender without EANIdentifier": _remove("c:Sender/c:EANIdentifier"),
    "Sender EANIdentifier not a 13-digit GLN": _set("c:Sender/c:EANIdentifier", "57900001"),
    "Receiver IdentifierCode not in the list": _set("c:Receiver/c:IdentifierCode", "cvrnummer"),
    "Receiver without Identifier": _remove("c:Receiver/c:Identifier"),
    "Sender and Receiver swapped": _swap_sender_receiver,
    "Patient without CPR": _patient_without_cpr,
    "Patient CPR with letters": _set("c:Patient/c:CivilRegistrationNumber", "01017O9996"),
    "Patient CPR too short": _set("c:Patient/c:CivilRegistrationNumber", "12345"),
    "Patient missing": _remove("c:Patient"),
}


@pytest.mark.parametrize("make", [_ggop, _xdis18], ids=["GGOP-1.0.4", "XDIS18-1.0.3"])
def test_municipality_sample_is_accepted(make: Callable[[], etree._Element]) -> None:
    root = make()
    assert _verdict(root), _schema(etree.QName(root).namespace).error_log


@pytest.mark.parametrize("make", [_ggop, _xdis18], ids=["GGOP-1.0.4", "XDIS18-1.0.3"])
@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_municipality_broken_header_is_rejected(make: Callable[[], etree._Element], breakage: str) -> None:
    root = make()
    BROKEN[breakage](root)
    assert not _verdict(root), f"{breakage} was accepted"


def _body_reordered_and_extended(root: etree._Element) -> None:
    letter = root[1]
    own = etree.QName(root).namespace
    patient = letter.find(f"{{{MC}}}Patient")
    body = list(patient.itersiblings())
    for node in body:
        letter.remove(node)
    for node in reversed(body):  # clinical sections in reverse order
        letter.append(node)
    etree.SubElement(letter, f"{{{own}}}SomeFutureSection").text = "tekst"
    etree.SubElement(letter, "{urn:example:vendor}VendorNote").text = "x"


def _cpr_in_cpr_namespace(root: etree._Element) -> None:
    node = _node(root, "c:Patient/c:CivilRegistrationNumber")
    node.tag = f"{{{CPR_NS}}}CivilRegistrationNumber"


def _sender_extension(root: etree._Element) -> None:
    etree.SubElement(_node(root, "c:Sender"), f"{{{etree.QName(root).namespace}}}SignedBy").text = "Læge Test"


def _without_status_code(root: etree._Element) -> None:
    _remove("c:Letter/c:StatusCode")(root)


LENIENT: dict[str, Callable[[etree._Element], None]] = {
    "clinical body reordered, unknown sections added": _body_reordered_and_extended,
    "CPR in the CPR namespace": _cpr_in_cpr_namespace,
    "Sender extension in the message namespace": _sender_extension,
    "Letter without StatusCode": _without_status_code,
}


@pytest.mark.parametrize("make", [_ggop, _xdis18], ids=["GGOP-1.0.4", "XDIS18-1.0.3"])
@pytest.mark.parametrize("variation", sorted(LENIENT))
def test_municipality_lenient_parts_are_accepted(make: Callable[[], etree._Element], variation: str) -> None:
    root = make()
    LENIENT[variation](root)
    assert _verdict(root), _schema(etree.QName(root).namespace).error_log


def test_body_dates_in_shared_namespace_are_still_checked() -> None:
    """Lax is not blind: a 1.0.0 Date inside the clinical body must be a real date."""
    root = _ggop()
    deadline = _node(root, "RehabilitationDeadline/c:Date")
    deadline.text = "2026-13-01"
    assert not _verdict(root)


def test_cpr_namespace_number_must_be_a_real_date() -> None:
    root = _ggop()
    _cpr_in_cpr_namespace(root)
    root[1].find(f"{{{MC}}}Patient/{{{CPR_NS}}}CivilRegistrationNumber").text = "3102709996"  # 31 February
    assert not _verdict(root)


def _as_unverified_root(root: etree._Element, name: str) -> etree._Element:
    """An XDIS18 renamed to a letter root the 1.0.3 schema does not declare (as XDIS19/XDIS21 may be)."""
    renamed = copy.deepcopy(root)
    renamed[1].tag = f"{{{M103}}}{name}"
    return renamed


def test_undeclared_1_0_3_letter_root_is_accepted_with_strict_shared_parts() -> None:
    unknown = _as_unverified_root(_xdis18(), "NotificationOfCompletedTreatment")
    assert _verdict(unknown)
    _set("c:Sender/c:EANIdentifier", "not-a-gln")(unknown)
    assert not _verdict(unknown), "Sender of an undeclared root must still be checked"


def test_letter_root_of_another_version_namespace_is_rejected() -> None:
    root = _ggop()
    root[1].tag = f"{{{M103}}}RehabilitationPlan"  # GGOP letter root under the 1.0.4 Emessage in 1.0.3
    assert not _verdict(root)
