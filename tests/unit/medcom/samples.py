"""Generators of fictitious MedCom test messages (no real persons; CPR numbers are made up).

Stable API for the schema, gateway and benchmark work:
    xdis91_message(...)  classic 2006/07/01 ClinicalEmail, windows-1252, valid against the OFFICIAL XSD
    xdis20_message(...)  classic 2005/08/07 NotificationOfAdmission, windows-1252, valid (OFFICIAL XSD)
    ggop_message(...)    municipality 1.0.4 RehabilitationPlan, UTF-8, about 19 KB
    xdis18_message(...)  municipality 1.0.3 ReportOfDischarge, UTF-8, about 18 KB
All take envelope_id, letter_id, sender_ean, receiver_ean, cpr and ack_code as keyword arguments.

Municipality layout (DOMAIN.md §2.1): the root Emessage, the letter root and the clinical body are in the
message's own namespace (1.0.4 / 1.0.3); Envelope, Letter, Sender, Receiver, Patient and the shared leaf
elements (Sent, Date, Time, Identifier, VersionCode, EANIdentifier, names, CivilRegistrationNumber …)
are in 1.0.0.
"""

from __future__ import annotations

from datetime import datetime
from xml.sax.saxutils import escape

NS_2005 = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/"
NS_2006 = "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2006/07/01/"
NS_MUN_100 = "urn:oio:medcom:municipality:1.0.0"
NS_MUN_103 = "urn:oio:medcom:municipality:1.0.3"
NS_MUN_104 = "urn:oio:medcom:municipality:1.0.4"

DEFAULT_SENT = datetime(2026, 11, 20, 10, 15)
HOSPITAL_EAN = "5790001382445"  # fictitious GLNs
MUNICIPALITY_EAN = "5790000198764"
FICTITIOUS_CPR = "0101709996"


def _e(text: str) -> str:
    return escape(text)


def xdis91_message(
    *,
    envelope_id: str = "ENV91000000001",
    letter_id: str = "LET91000000001",
    sender_ean: str = HOSPITAL_EAN,
    receiver_ean: str = MUNICIPALITY_EAN,
    cpr: str = FICTITIOUS_CPR,
    ack_code: str = "pluspositivkvitt",
    sent: datetime = DEFAULT_SENT,
    status: str = "nytbrev",
    version_code: str = "XD9134L",
    text: str = "Vedr. udskrivelse: patienten udskrives i morgen kl. 10. Hjemmeplejen bedes ringe.",
    paragraphs: int = 6,
) -> bytes:
    """Classic XDIS91 ClinicalEmail (2006/07/01), windows-1252, about 2–3 KB."""
    body = "<Break/>".join(_e(text) for _ in range(max(1, paragraphs)))
    xml = f"""<?xml version="1.0" encoding="windows-1252"?>
<Emessage xmlns="{NS_2006}"><Envelope><Sent><Date>{sent:%Y-%m-%d}</Date><Time>{sent:%H:%M}</Time></Sent>\
<Identifier>{_e(envelope_id)}</Identifier><AcknowledgementCode>{_e(ack_code)}</AcknowledgementCode></Envelope>\
<ClinicalEmail><Letter><Identifier>{_e(letter_id)}</Identifier><VersionCode>{_e(version_code)}</VersionCode>\
<StatisticalCode>XDIS91</StatisticalCode><Authorisation><Date>{sent:%Y-%m-%d}</Date><Time>{sent:%H:%M}</Time>\
</Authorisation><TypeCode>XDIS91</TypeCode><StatusCode>{_e(status)}</StatusCode></Letter>\
<Sender><EANIdentifier>{_e(sender_ean)}</EANIdentifier><Identifier>4202090</Identifier>\
<IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>Testsygehus Syd</OrganisationName>\
<DepartmentName>Medicinsk Afdeling M</DepartmentName>\
<MedicalSpecialityCode>kirurgi_sygehus</MedicalSpecialityCode>\
</Sender><Receiver><EANIdentifier>{_e(receiver_ean)}</EANIdentifier><Identifier>461</Identifier>\
<IdentifierCode>kommunenummer</IdentifierCode><OrganisationName>Testkommune</OrganisationName>\
<DepartmentName>Hjemmeplejen</DepartmentName><UnitName>Visitationen</UnitName>\
<StreetName>Rådhusvej 1</StreetName>\
<DistrictName>Testby</DistrictName><PostCodeIdentifier>5000</PostCodeIdentifier></Receiver>\
<Patient><CivilRegistrationNumber>{_e(cpr)}</CivilRegistrationNumber>\
<PersonSurnameName>Testesen</PersonSurnameName>\
<PersonGivenName>Tove Æbelø</PersonGivenName><StreetName>Prøvegade 7</StreetName>\
<DistrictName>Testby</DistrictName><PostCodeIdentifier>5000</PostCodeIdentifier><EpisodeOfCareStatusCode>indlagt</EpisodeOfCareStatusCode></Patient>\
<AdditionalInformation><Priority>rutine</Priority><Subject>Udskrivelse - plejebehov</Subject>\
</AdditionalInformation><ClinicalInformation><Text01>{body}<Break/>Venlig hilsen<Break/>Sygeplejerske\
</Text01></ClinicalInformation></ClinicalEmail></Emessage>
"""
    return xml.encode("cp1252")


def xdis20_message(
    *,
    envelope_id: str = "ENV20000000001",
    letter_id: str = "LET20000000001",
    sender_ean: str = HOSPITAL_EAN,
    receiver_ean: str = MUNICIPALITY_EAN,
    cpr: str = FICTITIOUS_CPR,
    ack_code: str = "pluspositivkvitt",
    sent: datetime = DEFAULT_SENT,
    status: str = "nytbrev",
) -> bytes:
    """Classic XDIS20 NotificationOfAdmission (2005/08/07), windows-1252, about 1.5 KB."""
    xml = f"""<?xml version="1.0" encoding="windows-1252"?>
<Emessage xmlns="{NS_2005}"><Envelope><Sent><Date>{sent:%Y-%m-%d}</Date><Time>{sent:%H:%M}</Time></Sent>\
<Identifier>{_e(envelope_id)}</Identifier><AcknowledgementCode>{_e(ack_code)}</AcknowledgementCode></Envelope>\
<NotificationOfAdmission><Letter><Identifier>{_e(letter_id)}</Identifier><VersionCode>XD2030C</VersionCode>\
<StatisticalCode>XDIS20</StatisticalCode><Authorisation><Date>{sent:%Y-%m-%d}</Date>\
<TimeWithSec>{sent:%H:%M}:00</TimeWithSec></Authorisation><TypeCode>XDIS20</TypeCode>\
<StatusCode>{_e(status)}</StatusCode><NotificationIdentifier>{_e(letter_id)}</NotificationIdentifier></Letter>\
<Sender><EANIdentifier>{_e(sender_ean)}</EANIdentifier><Identifier>4202090</Identifier>\
<IdentifierCode>sygehusafdelingsnummer</IdentifierCode><OrganisationName>Testsygehus Syd</OrganisationName>\
<DepartmentName>Medicinsk Afdeling M</DepartmentName><UnitName>M2</UnitName>\
<TelephoneSubscriberIdentifier>65000000</TelephoneSubscriberIdentifier><AnswerTo>\
<EANIdentifier>{_e(sender_ean)}</EANIdentifier></AnswerTo></Sender><Receiver>\
<EANIdentifier>{_e(receiver_ean)}</EANIdentifier><Identifier>461</Identifier>\
<IdentifierCode>kommunenummer</IdentifierCode><OrganisationName>Testkommune Ærø</OrganisationName></Receiver>\
<Patient><CivilRegistrationNumber>{_e(cpr)}</CivilRegistrationNumber>\
<EpisodeOfCareStatusCode>indlagt</EpisodeOfCareStatusCode></Patient><Admission><Date>{sent:%Y-%m-%d}</Date>\
<Time>{sent:%H:%M}</Time></Admission></NotificationOfAdmission></Emessage>
"""
    return xml.encode("cp1252")


# ------------------------------------------------------------ municipality 1.0.x (UTF-8, mixed namespaces)


def _c(name: str, text: str) -> str:
    """Shared (1.0.0) leaf element."""
    return f"<c:{name}>{_e(text)}</c:{name}>"


def _s(name: str, inner: str) -> str:
    """Shared (1.0.0) container element: Letter, Sender, Receiver, Patient, Authorisation."""
    return f"<c:{name}>{inner}</c:{name}>"


def _m(name: str, inner: str) -> str:
    """Message-specific (own namespace) element."""
    return f"<m:{name}>{inner}</m:{name}>"


def _formatted(paragraph: str, n: int) -> str:
    parts = []
    for i in range(n):
        parts.append(f"{_e(paragraph)} <m:Bold>Punkt {i + 1}.</m:Bold> <m:Italic>Se også plan.</m:Italic><m:Break/>")
    return "".join(parts)


def _municipality_head(own_ns: str, envelope_id: str, ack_code: str, sent: datetime, letter_root: str) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<m:Emessage xmlns:m="{own_ns}" xmlns:c="{NS_MUN_100}">'
        f"<c:Envelope><c:Sent>{_c('Date', f'{sent:%Y-%m-%d}')}{_c('Time', f'{sent:%H:%M}')}</c:Sent>"
        f"{_c('Identifier', envelope_id)}{_c('AcknowledgementCode', ack_code)}</c:Envelope><m:{letter_root}>"
    )


def _letter(
    letter_id: str, version_code: str, statistical_code: str, type_code: str, sent: datetime, status: str
) -> str:
    return _s(
        "Letter",
        _c("Identifier", letter_id)
        + _c("VersionCode", version_code)
        + _c("StatisticalCode", statistical_code)
        + _s("Authorisation", _c("Date", f"{sent:%Y-%m-%d}") + _c("Time", f"{sent:%H:%M}"))
        + _c("TypeCode", type_code)
        + _c("StatusCode", status),
    )


def _party(tag: str, ean: str, ident: str, code: str, org: str, dept: str, unit: str, extra: str = "") -> str:
    return _s(
        tag,
        _c("EANIdentifier", ean)
        + _c("Identifier", ident)
        + _c("IdentifierCode", code)
        + _c("OrganisationName", org)
        + _c("DepartmentName", dept)
        + _c("UnitName", unit)
        + _c("StreetName", "Testvej 10")
        + _c("DistrictName", "Testby")
        + _c("PostCodeIdentifier", "5000")
        + _c("TelephoneSubscriberIdentifier", "65000000")
        + extra,
    )


def _patient(cpr: str) -> str:
    return _s(
        "Patient",
        _c("CivilRegistrationNumber", cpr)
        + _c("PersonSurnameName", "Testesen")
        + _c("PersonGivenName", "Tove Æbelø")
        + _c("StreetName", "Prøvegade 7")
        + _c("DistrictName", "Testby")
        + _c("PostCodeIdentifier", "5000")
        + _s("TelephoneSubscriber", _c("TelephoneSubscriberIdentifier", "20000000"))
        + _c("EmailAddressIdentifier", "tove@example.invalid")
        + _c("CoAddress", "c/o Testesen"),
    )


def _relatives() -> str:
    rel = _m(
        "Relative",
        _c("RelationCode", "datter")
        + _c("PersonSurnameName", "Testesen")
        + _c("PersonGivenName", "Anne")
        + _c("TelephoneSubscriberIdentifier", "30000000"),
    )
    return _m("Relatives", rel * 2)


# The patient's GP (ydernummer), copied to GGOP as CCReceiver and named in XDIS18 as Practitioner.
_GP_FIELDS = (
    _c("EANIdentifier", "5790000111114")
    + _c("Identifier", "012345")
    + _c("IdentifierCode", "ydernummer")
    + _c("OrganisationName", "Lægehuset Test")
)


def ggop_message(
    *,
    envelope_id: str = "ENVGGOP0000001",
    letter_id: str = "LETGGOP0000001",
    sender_ean: str = HOSPITAL_EAN,
    receiver_ean: str = MUNICIPALITY_EAN,
    cpr: str = FICTITIOUS_CPR,
    ack_code: str = "pluspositivkvitt",
    sent: datetime = DEFAULT_SENT,
    status: str = "nytbrev",
    statistical_code: str = "GGOP2",
    version_code: str = "GGOP100",
    target_size: int = 19_000,
) -> bytes:
    """Municipality 1.0.4 RehabilitationPlan (GGOP), UTF-8, about `target_size` bytes (default ≈19 KB)."""
    para = (
        "Patienten har efter hoftenær fraktur nedsat gangfunktion og behov for genoptræning af balance, "
        "styrke og gangdistance; mobiliseres med rollator."
    )
    head = _municipality_head(NS_MUN_104, envelope_id, ack_code, sent, "RehabilitationPlan")
    fixed = (
        _letter(letter_id, version_code, statistical_code, "GGOP", sent, status)
        + _party(
            "Sender",
            sender_ean,
            "4202090",
            "sygehusafdelingsnummer",
            "Testsygehus Syd",
            "Ortopædkirurgisk Afdeling",
            "O3",
            _m("SignedBy", "Fysioterapeut Test Testsen") + _m("CoWriter", "Ergoterapeut Prøve"),
        )
        + _party("Receiver", receiver_ean, "461", "kommunenummer", "Testkommune", "Genoptræning", "Visitation")
        + _m(
            "GPCCReceiver",
            _m(
                "CCReceiver",
                _GP_FIELDS,
            ),
        )
        + _m("CCReceiver", _c("EANIdentifier", "5790000222223") + _c("OrganisationName", "Hjemmeplejen Test"))
        + _patient(cpr)
        + _relatives()
        + _m("TypeOfRehabilitationPlan", _e("specialiseret"))
        + _m("InformationForPatientAndRelatives", _e("Patienten er informeret om planen."))
        + _m("ConsentInformed", "true")
        + _m("PracticalInformation", _e("Patienten kan transporteres siddende."))
        + _m("PatientSafetyAspects", _e("Faldrisiko."))
        + _m("RehabilitationDeadline", _c("Date", f"{sent:%Y-%m-%d}"))
        + _m(
            "CurrentHospitalContact",
            _m("Start", _c("Date", f"{sent:%Y-%m-%d}")) + _m("ExpectedEnd", _c("Date", f"{sent:%Y-%m-%d}")),
        )
        + _m("HospitalAmbulatoryControl", _e("Ingen."))
    )
    tail_fixed = (
        _m(
            "ICD10Diagnoses",
            _m("Diagnosis", _c("DiagnosisCode", "DS720") + _c("DiagnosisText", "Hoftefraktur")),
        )
        + _m("ICFClassifications", _m("Classification", _c("ICFCode", "d450") + _c("ICFText", "Gang")))
        + _m("ContactCounty", _e("Testsygehus Syd, tlf. 65000000"))
        + _m("ContactMunicipality", _e("Testkommune, tlf. 70000000"))
        + _m(
            "HealthCareTeam",
            _m("Member", _c("PersonGivenName", "Test") + _c("PersonSurnameName", "Terapeut")),
        )
        + _m("FinalResult", _m("ResultReceiver", _c("EANIdentifier", sender_ean)))
        + _m("Reference", _m("RefDescription", _e("Vejledning")) + _m("URL", "https://example.invalid/ggop"))
        + "</m:RehabilitationPlan></m:Emessage>\n"
    )
    out = head + fixed
    # Clinical text sections, grown until the message reaches the target size.
    summary_n = 2
    while True:
        body = (
            _m("PatientHealthSummary", _formatted(para, summary_n))
            + _m("AbilityAtDischargeSummary", _formatted(para, summary_n))
            + _m("AbilityAtDischargeExtended", _formatted(para, summary_n * 2))
            + _m("RehabilitationNeedAndPotential", _formatted(para, summary_n))
        )
        excerpt = _m("JournalExcerpt", _c("Date", f"{sent:%Y-%m-%d}") + _m("Text", _formatted(para, 2)))
        doc = out + body + tail_fixed.replace("<m:ContactCounty>", excerpt * 2 + "<m:ContactCounty>", 1)
        data = doc.encode("utf-8")
        if len(data) >= target_size or summary_n > 400:
            return data
        summary_n += 1


def xdis18_message(
    *,
    envelope_id: str = "ENVXD180000001",
    letter_id: str = "LETXD180000001",
    sender_ean: str = HOSPITAL_EAN,
    receiver_ean: str = MUNICIPALITY_EAN,
    cpr: str = FICTITIOUS_CPR,
    ack_code: str = "pluspositivkvitt",
    sent: datetime = DEFAULT_SENT,
    status: str = "nytbrev",
    version_code: str = "XD1834C",
    target_size: int = 18_000,
) -> bytes:
    """Municipality 1.0.3 ReportOfDischarge (XDIS18), UTF-8, about `target_size` bytes (default ≈18 KB)."""
    para = (
        "Patienten er selvhjulpen ved spisning, har brug for hjælp til personlig hygiejne og "
        "påklædning af underkrop; sover godt om natten."
    )
    head = _municipality_head(NS_MUN_103, envelope_id, ack_code, sent, "ReportOfDischarge")
    fixed = (
        _letter(letter_id, version_code, "XDIS18", "XDIS18", sent, status)
        + _party(
            "Sender",
            sender_ean,
            "4202090",
            "sygehusafdelingsnummer",
            "Testsygehus Syd",
            "Medicinsk Afdeling M",
            "M2",
        )
        + _party("Receiver", receiver_ean, "461", "kommunenummer", "Testkommune", "Hjemmeplejen", "Visitation")
        + _patient(cpr)
        + _m(
            "Practitioner",
            _GP_FIELDS,
        )
        + _relatives()
    )
    tail = (
        _m("Diagnoses", _m("Diagnosis", _c("DiagnosisCode", "DJ189") + _c("DiagnosisText", "Pneumoni")))
        + "</m:ReportOfDischarge></m:Emessage>\n"
    )
    n = 2
    while True:
        areas = "".join(
            _m("NursingProblemArea", _m("AreaCode", f"omraade{i}") + _m("Text", _formatted(para, n)))
            for i in range(1, 5)
        )
        body = (
            _m("NursingProblemAreas", areas)
            + _m("AbilityToFunctionAtDischarge", _formatted(para, n))
            + _m("DischargeRelatedMedicineInformation", _formatted(para, max(1, n // 2)))
            + _m("FuturePlans", _formatted(para, max(1, n // 2)))
        )
        data = (head + fixed + body + tail).encode("utf-8")
        if len(data) >= target_size or n > 400:
            return data
        n += 1
