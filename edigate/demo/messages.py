"""Small builders of fictitious MedCom messages for the demo's simulated hospital systems.

A realistic hospital -> municipality mix: the advis (XDIS20 admission, XDIS17 discharge), the clinical
e-mail XDIS91, the rehabilitation plan GGOP and the discharge report XDIS18. Every patient is "Testperson
Demo" with a made-up CPR number; the organisation names are the demo directory's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

NS_2005 = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"
NS_2006 = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/"
NS_MUN_100 = "urn:oio:medcom:municipality:1.0.0"
NS_MUN_103 = "urn:oio:medcom:municipality:1.0.3"
NS_MUN_104 = "urn:oio:medcom:municipality:1.0.4"

GIVEN_NAME = "Testperson"
SURNAME = "Demo"
#: the share of each type in the demo's traffic (advis dominate, as on a real ward)
MIX: tuple[tuple[str, int], ...] = (("XDIS20", 4), ("XDIS17", 3), ("XDIS91", 3), ("GGOP", 1), ("XDIS18", 1))


def fictitious_cpr(n: int) -> str:
    """01-01-01 plus a made-up serial: no real person, and still CPR-shaped so redaction is exercised."""
    return f"010101{n % 10000:04d}"


@dataclass(frozen=True)
class Outgoing:
    """One letter from a hospital ward to a municipality."""

    type_code: str
    envelope_id: str
    letter_id: str
    sender_ean: str
    sender_name: str
    receiver_ean: str
    receiver_name: str
    cpr: str
    sent: datetime


def build(message: Outgoing) -> bytes:
    """The XML of `message`, in its type's own layout and encoding."""
    return BUILDERS[message.type_code](message)


def _e(text: str) -> str:
    return escape(text)


def _classic_head(ns: str, m: Outgoing, ack: str = "pluspositivkvitt") -> str:
    return (
        f'<?xml version="1.0" encoding="windows-1252"?>\n<Emessage xmlns="{ns}"><Envelope><Sent>'
        f"<Date>{m.sent:%Y-%m-%d}</Date><Time>{m.sent:%H:%M}</Time></Sent>"
        f"<Identifier>{_e(m.envelope_id)}</Identifier><AcknowledgementCode>{ack}</AcknowledgementCode>"
        "</Envelope>"
    )


def _advis(m: Outgoing, root: str, version: str, event: str, episode: str) -> bytes:
    """XDIS20 / XDIS17 (2005/08/07): the short advis a ward sends at admission and discharge."""
    xml = (
        _classic_head(NS_2005, m)
        + f"<{root}><Letter><Identifier>{_e(m.letter_id)}</Identifier><VersionCode>{version}</VersionCode>"
        f"<StatisticalCode>{m.type_code}</StatisticalCode><Authorisation><Date>{m.sent:%Y-%m-%d}</Date>"
        f"<TimeWithSec>{m.sent:%H:%M}:00</TimeWithSec></Authorisation><TypeCode>{m.type_code}</TypeCode>"
        f"<StatusCode>nytbrev</StatusCode><NotificationIdentifier>{_e(m.letter_id)}</NotificationIdentifier>"
        f"</Letter><Sender><EANIdentifier>{m.sender_ean}</EANIdentifier><Identifier>4202090</Identifier>"
        "<IdentifierCode>sygehusafdelingsnummer</IdentifierCode>"
        f"<OrganisationName>{_e(_short(m.sender_name))}</OrganisationName>"
        "<DepartmentName>Medicinsk Afdeling</DepartmentName><UnitName>M2</UnitName>"
        "<TelephoneSubscriberIdentifier>65000000</TelephoneSubscriberIdentifier>"
        f"<AnswerTo><EANIdentifier>{m.sender_ean}</EANIdentifier></AnswerTo></Sender>"
        f"<Receiver><EANIdentifier>{m.receiver_ean}</EANIdentifier><Identifier>461</Identifier>"
        "<IdentifierCode>kommunenummer</IdentifierCode>"
        f"<OrganisationName>{_e(_short(m.receiver_name))}</OrganisationName></Receiver>"
        f"<Patient><CivilRegistrationNumber>{m.cpr}</CivilRegistrationNumber>"
        f"<EpisodeOfCareStatusCode>{episode}</EpisodeOfCareStatusCode></Patient>"
        f"<{event}><Date>{m.sent:%Y-%m-%d}</Date><Time>{m.sent:%H:%M}</Time></{event}></{root}></Emessage>\n"
    )
    return xml.encode("cp1252")


def xdis20(m: Outgoing) -> bytes:
    return _advis(m, "NotificationOfAdmission", "XD2030C", "Admission", "indlagt")


def xdis17(m: Outgoing) -> bytes:
    return _advis(m, "NotificationOfDischarge", "XD1730C", "Discharge", "udskrevet_til_hjemmet")


def xdis91(m: Outgoing) -> bytes:
    """XDIS91 ClinicalEmail (2006/07/01): the ward's free-text correspondence with home care."""
    text = "Testperson Demo udskrives i morgen kl. 10. Hjemmeplejen bedes ringe til afsnittet."
    xml = (
        _classic_head(NS_2006, m)
        + f"<ClinicalEmail><Letter><Identifier>{_e(m.letter_id)}</Identifier><VersionCode>XD9134L</VersionCode>"
        f"<StatisticalCode>XDIS91</StatisticalCode><Authorisation><Date>{m.sent:%Y-%m-%d}</Date>"
        f"<Time>{m.sent:%H:%M}</Time></Authorisation><TypeCode>XDIS91</TypeCode>"
        "<StatusCode>nytbrev</StatusCode></Letter>"
        f"<Sender><EANIdentifier>{m.sender_ean}</EANIdentifier><Identifier>4202090</Identifier>"
        "<IdentifierCode>sygehusafdelingsnummer</IdentifierCode>"
        f"<OrganisationName>{_e(_short(m.sender_name))}</OrganisationName>"
        "<DepartmentName>Medicinsk Afdeling</DepartmentName>"
        "<MedicalSpecialityCode>kirurgi_sygehus</MedicalSpecialityCode></Sender>"
        f"<Receiver><EANIdentifier>{m.receiver_ean}</EANIdentifier><Identifier>461</Identifier>"
        "<IdentifierCode>kommunenummer</IdentifierCode>"
        f"<OrganisationName>{_e(_short(m.receiver_name))}</OrganisationName>"
        "<DepartmentName>Hjemmeplejen</DepartmentName></Receiver>"
        f"<Patient><CivilRegistrationNumber>{m.cpr}</CivilRegistrationNumber>"
        f"<PersonSurnameName>{SURNAME}</PersonSurnameName><PersonGivenName>{GIVEN_NAME}</PersonGivenName>"
        "<EpisodeOfCareStatusCode>indlagt</EpisodeOfCareStatusCode></Patient>"
        "<AdditionalInformation><Priority>rutine</Priority><Subject>Udskrivelse - plejebehov</Subject>"
        f"</AdditionalInformation><ClinicalInformation><Text01>{_e(text)}<Break/>Venlig hilsen<Break/>"
        "Sygeplejerske, afsnit M2</Text01></ClinicalInformation></ClinicalEmail></Emessage>\n"
    )
    return xml.encode("cp1252")


# ---- municipality 1.0.x: own namespace for the root and the clinical body, 1.0.0 for the shared parts


def _c(name: str, text: str) -> str:
    return f"<c:{name}>{_e(text)}</c:{name}>"


def _s(name: str, inner: str) -> str:
    return f"<c:{name}>{inner}</c:{name}>"


def _m(name: str, inner: str) -> str:
    return f"<m:{name}>{inner}</m:{name}>"


def _municipality(m: Outgoing, ns: str, root: str, version: str, statistical: str, body: str) -> bytes:
    letter = _s(
        "Letter",
        _c("Identifier", m.letter_id)
        + _c("VersionCode", version)
        + _c("StatisticalCode", statistical)
        + _s("Authorisation", _c("Date", f"{m.sent:%Y-%m-%d}") + _c("Time", f"{m.sent:%H:%M}"))
        + _c("TypeCode", m.type_code)
        + _c("StatusCode", "nytbrev"),
    )

    def party(tag: str, ean: str, ident: str, code: str, org: str, dept: str) -> str:
        return _s(
            tag,
            _c("EANIdentifier", ean)
            + _c("Identifier", ident)
            + _c("IdentifierCode", code)
            + _c("OrganisationName", _short(org))
            + _c("DepartmentName", dept),
        )

    patient = _s(
        "Patient",
        _c("CivilRegistrationNumber", m.cpr) + _c("PersonSurnameName", SURNAME) + _c("PersonGivenName", GIVEN_NAME),
    )
    xml = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<m:Emessage xmlns:m="{ns}" xmlns:c="{NS_MUN_100}">'
        f"<c:Envelope><c:Sent>{_c('Date', f'{m.sent:%Y-%m-%d}')}{_c('Time', f'{m.sent:%H:%M}')}</c:Sent>"
        f"{_c('Identifier', m.envelope_id)}{_c('AcknowledgementCode', 'pluspositivkvitt')}</c:Envelope>"
        f"<m:{root}>"
        + letter
        + party("Sender", m.sender_ean, "4202090", "sygehusafdelingsnummer", m.sender_name, "Ortopædkirurgi")
        + party("Receiver", m.receiver_ean, "461", "kommunenummer", m.receiver_name, "Visitationen")
        + patient
        + body
        + f"</m:{root}></m:Emessage>\n"
    )
    return xml.encode("utf-8")


def ggop(m: Outgoing) -> bytes:
    """GGOP RehabilitationPlan (municipality 1.0.4): the plan for rehabilitation after discharge."""
    text = "Genoptræning af gangfunktion og balance efter hoftenær fraktur; mobiliseres med rollator."
    body = (
        _m("TypeOfRehabilitationPlan", "almen")
        + _m("RehabilitationNeedAndPotential", _e(text))
        + _m("ICD10Diagnoses", _m("Diagnosis", _c("DiagnosisCode", "DS720") + _c("DiagnosisText", "Hoftefraktur")))
    )
    return _municipality(m, NS_MUN_104, "RehabilitationPlan", "GGOP100", "GGOP1", body)


def xdis18(m: Outgoing) -> bytes:
    """XDIS18 ReportOfDischarge (municipality 1.0.3): the nursing report that follows the patient home."""
    text = "Selvhjulpen ved spisning; behov for hjælp til personlig hygiejne morgen og aften."
    body = _m("AbilityToFunctionAtDischarge", _e(text)) + _m(
        "Diagnoses", _m("Diagnosis", _c("DiagnosisCode", "DJ189") + _c("DiagnosisText", "Pneumoni"))
    )
    return _municipality(m, NS_MUN_103, "ReportOfDischarge", "XD1834C", "XDIS18", body)


def _short(name: str) -> str:
    """The directory's names carry "(FIKTIV EAN)"; the letters use the plain name (schema max length)."""
    return name.split(" (")[0][:35]


BUILDERS = {"XDIS20": xdis20, "XDIS17": xdis17, "XDIS91": xdis91, "GGOP": ggop, "XDIS18": xdis18}
