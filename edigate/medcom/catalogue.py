"""The MedCom message catalogue: ONE table mapping (namespace, root letter element) to a message type.

Classic OIOXML types are keyed by their exact namespace and root. The municipality 1.0.x types whose root
element name is not verified are found by their Letter/VersionCode instead (`by_version_code`).
"""

from __future__ import annotations

from dataclasses import dataclass

CLASSIC_PREFIX = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/"
NS_2005 = CLASSIC_PREFIX + "2005/08/07/"
NS_2006 = CLASSIC_PREFIX + "2006/07/01/"
NS_2009 = CLASSIC_PREFIX + "2009/08/01/"
MUNICIPALITY_PREFIX = "urn:oio:medcom:municipality:"
NS_MUN_100 = MUNICIPALITY_PREFIX + "1.0.0"
NS_MUN_103 = MUNICIPALITY_PREFIX + "1.0.3"
NS_MUN_104 = MUNICIPALITY_PREFIX + "1.0.4"

RECEIPT_NAMESPACE = NS_2005  # XCTL receipts are always sent in 2005/08/07, also for XDIS91 (2006/07/01)


@dataclass(frozen=True)
class MessageType:
    """One catalogue row."""

    type_code: str  # e.g. "XDIS91"
    version_codes: tuple[str, ...]
    statistical_codes: tuple[str, ...]
    namespace: str
    root: str | None  # letter root element; None where the name is unverified (found by VersionCode)
    schema_file: str  # entry file relative to the schema dir
    is_receipt: bool
    name_da: str
    name_en: str
    root_verified: bool = True

    @property
    def is_municipality(self) -> bool:
        return self.namespace.startswith(MUNICIPALITY_PREFIX)


def _classic(
    code: str, versions: tuple[str, ...], ns: str, root: str, da: str, en: str, receipt: bool = False
) -> MessageType:
    return MessageType(code, versions, (code,), ns, root, schema_entry_file(ns), receipt, da, en)


def schema_entry_file(namespace: str) -> str:
    """MedCom's own layout: classic `YYYY/MM/DD/EMessage.xsd`, municipality `1.0.x/EMessage.xsd`."""
    if namespace.startswith(CLASSIC_PREFIX):
        return namespace[len(CLASSIC_PREFIX) :].strip("/") + "/EMessage.xsd"
    if namespace.startswith(MUNICIPALITY_PREFIX):
        return namespace[len(MUNICIPALITY_PREFIX) :] + "/EMessage.xsd"
    raise ValueError("not a MedCom namespace")


CATALOGUE: tuple[MessageType, ...] = (
    _classic("XDIS91", ("XD9134L",), NS_2006, "ClinicalEmail", "Korrespondancemeddelelse", "Clinical e-mail"),
    _classic(
        "XDIS90",
        ("XD9034L",),
        NS_2009,
        "AdministrativeEmail",
        "Administrativ korrespondance",
        "Administrative e-mail",
    ),
    _classic(
        "XDIS20",
        ("XD2030C",),
        NS_2005,
        "NotificationOfAdmission",
        "Indlæggelsesadvis",
        "Notification of admission",
    ),
    _classic(
        "XDIS17",
        ("XD1730C",),
        NS_2005,
        "NotificationOfDischarge",
        "Udskrivningsadvis",
        "Notification of discharge",
    ),
    _classic("XDIS14", ("XD1431C",), NS_2005, "AnswerOfAdmission", "Indlæggelsessvar", "Answer of admission"),
    _classic(
        "XDIS01",
        ("XD0133L", "XD0134L"),
        NS_2005,
        "DischargeLetter",
        "Udskrivningsepikrise",
        "Discharge letter",
    ),
    _classic(
        "XREF01",
        ("XH0130R", "XH0131R"),
        NS_2005,
        "HospitalReferral",
        "Sygehushenvisning",
        "Hospital referral",
    ),
    _classic(
        "XCTL01",
        ("XC0130Q",),
        NS_2005,
        "NegativeVansReceipt",
        "Negativ VANS-kvittering",
        "Negative VANS receipt",
        receipt=True,
    ),
    _classic(
        "XCTL02",
        ("XC0230Q",),
        NS_2005,
        "NegativeReceipt",
        "Negativ kvittering",
        "Negative receipt",
        receipt=True,
    ),
    _classic(
        "XCTL03",
        ("XC0330Q",),
        NS_2005,
        "PositiveReceipt",
        "Positiv kvittering",
        "Positive receipt",
        receipt=True,
    ),
    MessageType(
        "GGOP",
        ("GGOP100",),
        ("GGOP1", "GGOP2", "GGOP3"),
        NS_MUN_104,
        "RehabilitationPlan",
        "1.0.4/EMessage.xsd",
        False,
        "Genoptræningsplan",
        "Rehabilitation plan",
    ),
    MessageType(
        "XDIS18",
        ("XD1834C",),
        ("XDIS18",),
        NS_MUN_103,
        "ReportOfDischarge",
        "1.0.3/EMessage.xsd",
        False,
        "Udskrivningsrapport",
        "Report of discharge",
    ),
    MessageType(
        "XDIS16",
        ("XD1634C",),
        ("XDIS16",),
        NS_MUN_103,
        "ReportOfAdmission",
        "1.0.3/EMessage.xsd",
        False,
        "Indlæggelsesrapport",
        "Report of admission",
        root_verified=False,
    ),
    MessageType(
        "XDIS19",
        ("XD1934C",),
        ("XDIS19",),
        NS_MUN_103,
        None,
        "1.0.3/EMessage.xsd",
        False,
        "Melding om færdigbehandling",
        "Notification of completed treatment",
        root_verified=False,
    ),
    MessageType(
        "XDIS21",
        ("XD2134C",),
        ("XDIS21",),
        NS_MUN_103,
        None,
        "1.0.3/EMessage.xsd",
        False,
        "Plejeforløbsplan",
        "Care plan",
        root_verified=False,
    ),
)

_BY_ROOT: dict[tuple[str, str], MessageType] = {(t.namespace, t.root): t for t in CATALOGUE if t.root is not None}
_BY_VERSION: dict[str, MessageType] = {v: t for t in CATALOGUE for v in t.version_codes}
_BY_CODE: dict[str, MessageType] = {t.type_code: t for t in CATALOGUE}


def is_medcom_namespace(namespace: str | None) -> bool:
    return bool(namespace) and (
        str(namespace).startswith(CLASSIC_PREFIX) or str(namespace).startswith(MUNICIPALITY_PREFIX)
    )


def lookup(namespace: str | None, root: str, version_code: str | None = None) -> MessageType | None:
    """The type of a letter root element; municipality roots that are not verified fall back to the
    letter's VersionCode. None means: unsupported message type."""
    if namespace is None:
        return None
    found = _BY_ROOT.get((namespace, root))
    if found is not None:
        return found
    if namespace.startswith(MUNICIPALITY_PREFIX) and version_code:
        by_version = _BY_VERSION.get(version_code)
        if by_version is not None and by_version.is_municipality and not by_version.root_verified:
            return by_version
    return None


def by_version_code(version_code: str) -> MessageType | None:
    return _BY_VERSION.get(version_code)


def by_type_code(type_code: str) -> MessageType | None:
    return _BY_CODE.get(type_code)


def all_types() -> list[tuple[str, str]]:
    """(type code, Danish name) for every catalogue type, e.g. for the outage form's 'Berørte meddelelser'."""
    return [(t.type_code, t.name_da) for t in CATALOGUE]


def schema_files() -> tuple[str, ...]:
    """Every entry file the catalogue needs (for startup checks)."""
    return tuple(dict.fromkeys(t.schema_file for t in CATALOGUE))


def unsupported_message(namespace: str | None, root: str | None) -> str:
    return f"meddelelsestypen understøttes ikke: {namespace or '(intet namespace)'} {root or '(intet brev)'}"
