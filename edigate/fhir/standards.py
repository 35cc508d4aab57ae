"""MedCom's FHIR message standards that edigate takes: names, event codes, profiles and package closures.

Facts from the packages themselves (package.json and the StructureDefinitions of
`../shared/medcom/fhir-packages`). Each standard pins its own versions of MedCom core, messaging and
terminology, so the validator loads one closure per standard (see validator/ and docs/fhir.md).
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_CODE_SYSTEM = "http://medcomfhir.dk/ig/terminology/CodeSystem/medcom-messaging-eventCodes"
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
GLN_SYSTEM = "https://www.gs1.org/gln"
SOR_SYSTEM = "urn:oid:1.2.208.176.1.1"


@dataclass(frozen=True)
class FhirPackage:
    id: str
    version: str

    @property
    def spec(self) -> str:
        """`id#version`, the FHIR package manager's notation."""
        return f"{self.id}#{self.version}"

    @property
    def filename(self) -> str:
        """The file name in a package folder (MedCom's package site layout)."""
        return f"{self.id}-{self.version}.tgz"


@dataclass(frozen=True)
class FhirStandard:
    name: str
    event_code: str
    bundle_profile: str
    message_header_profile: str
    replaces: tuple[str, ...]  # the OIOXML types it succeeds
    package: FhirPackage  # the standard's own package (the root of its closure)
    closure: tuple[FhirPackage, ...]  # root first, then MedCom/DK dependencies as the validator resolves them
    event_system: str = EVENT_CODE_SYSTEM


def _closure(*specs: str) -> tuple[FhirPackage, ...]:
    return tuple(FhirPackage(*spec.split("#")) for spec in specs)


CARE_COMMUNICATION = FhirStandard(
    name="CareCommunication",
    event_code="care-communication-message",
    bundle_profile="http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-message",
    message_header_profile=(
        "http://medcomfhir.dk/ig/carecommunication/StructureDefinition/medcom-careCommunication-messageHeader"
    ),
    replaces=("XDIS91",),
    package=FhirPackage("medcom.fhir.dk.carecommunication", "5.0.2"),
    closure=_closure(
        "medcom.fhir.dk.carecommunication#5.0.2",
        "hl7.fhir.dk.core#3.4.0",
        "medcom.fhir.dk.core#3.0.1",
        "medcom.fhir.dk.messaging#4.0.2",
        "medcom.fhir.dk.terminology#2.0.1",
        "medcom.fhir.dk.messagedefinitions#1.0.0",
    ),
)

HOSPITAL_NOTIFICATION = FhirStandard(
    name="HospitalNotification",
    event_code="hospital-notification-message",
    bundle_profile=(
        "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-message"
    ),
    message_header_profile=(
        "http://medcomfhir.dk/ig/hospitalnotification/StructureDefinition/medcom-hospitalNotification-messageHeader"
    ),
    replaces=("XDIS20", "XDIS17"),
    package=FhirPackage("medcom.fhir.dk.hospitalnotification", "3.0.2"),
    closure=_closure(
        "medcom.fhir.dk.hospitalnotification#3.0.2",
        "hl7.fhir.dk.core#2.0.0",
        "medcom.fhir.dk.core#2.0.0",
        "medcom.fhir.dk.messaging#2.1.0",
        "medcom.fhir.dk.terminology#1.1.1",
    ),
)

ACKNOWLEDGEMENT = FhirStandard(
    name="Acknowledgement",
    event_code="acknowledgement-message",
    bundle_profile="http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgement",
    message_header_profile=(
        "http://medcomfhir.dk/ig/acknowledgement/StructureDefinition/medcom-messaging-acknowledgementHeader"
    ),
    replaces=("XCTL01", "XCTL02", "XCTL03"),
    package=FhirPackage("medcom.fhir.dk.acknowledgement", "2.0.3"),
    closure=_closure(
        "medcom.fhir.dk.acknowledgement#2.0.3",
        "hl7.fhir.dk.core#2.0.0",
        "medcom.fhir.dk.core#2.0.1",
        "medcom.fhir.dk.messaging#2.1.0",
        "medcom.fhir.dk.terminology#1.4.0",
    ),
)

STANDARDS: tuple[FhirStandard, ...] = (CARE_COMMUNICATION, HOSPITAL_NOTIFICATION, ACKNOWLEDGEMENT)
BY_NAME = {s.name: s for s in STANDARDS}
BY_EVENT_CODE = {s.event_code: s for s in STANDARDS}
BY_PROFILE = {s.bundle_profile: s for s in STANDARDS}


def standard_named(name: str) -> FhirStandard:
    """The standard called `name` (e.g. "CareCommunication"); KeyError naming the known ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown FHIR standard {name!r} (known: {', '.join(BY_NAME)})") from None


def standard_for_event(system: str | None, code: str | None) -> FhirStandard | None:
    """The standard a MessageHeader.eventCoding names, or None (wrong system or another MedCom event)."""
    if system != EVENT_CODE_SYSTEM or code is None:
        return None
    return BY_EVENT_CODE.get(code)
