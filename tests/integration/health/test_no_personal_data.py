"""No CPR number and no patient name leaves the core: real example messages go through the whole service
(valid, invalid, duplicates, receipts both ways, an outage with alert mails, an auto-confirmed incident
with its notices) and every log line, the /metrics text, every API response and every mail is scanned for
the CPR numbers (with and without hyphen) and patient names the messages contain. Zero hits.

Out of scope by design: `GET /api/v1/messages/{id}` as an *admin* returns the body (that is its job);
the same metadata is scanned as the partner sees it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lxml import etree

from edigate.medcom import Validator, build_negative_receipt, build_positive_receipt
from tests.conftest import EXAMPLES
from tests.integration.health.conftest import HOSPITAL, MUNICIPALITY, TOKENS, World
from tests.unit.medcom.samples import ggop_message, xdis18_message, xdis20_message, xdis91_message

SAMPLE_CPRS = ["2405551234", "1110424321", "0707071113", "3012891238", "1902734567", "0506072468"]
SAMPLE_NAMES = ["Testesen", "Tove Æbelø", "Æbelø"]
NOT_NAMES = {"Administrativ", "Test", "Info"}  # test-patient placeholders that are also ordinary words
SENT = datetime(2026, 11, 24, 9, 30)


def patient_data(xml: bytes) -> tuple[set[str], set[str]]:
    """CPR numbers and patient names (given and surname, >= 4 letters) inside <Patient> elements."""
    cprs: set[str] = set()
    names: set[str] = set()
    try:
        root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return cprs, names
    for patient in root.iter("{*}Patient"):
        for el in patient.iter():
            if not isinstance(el.tag, str):
                continue
            text = (el.text or "").strip()
            local = etree.QName(el).localname
            if local == "CivilRegistrationNumber" and re.fullmatch(r"\d{6}-?\d{4}", text):
                cprs.add(text.replace("-", ""))
            elif local in ("PersonSurnameName", "PersonGivenName") and len(text) >= 4 and text not in NOT_NAMES:
                names.add(text)
    return cprs, names


def needles(cprs: set[str], names: set[str]) -> list[re.Pattern[str]]:
    out = []
    for c in sorted(cprs):
        out.append(re.compile(rf"(?<!\d){c[:6]}-?{c[6:]}(?!\d)"))
    for n in sorted(names):
        out.append(re.compile(rf"(?<!\w){re.escape(n)}(?!\w)", re.IGNORECASE))
    return out


def hits(text: str, patterns: list[re.Pattern[str]], where: str) -> list[str]:
    found = []
    for p in patterns:
        for m in p.finditer(text):
            found.append(f"{where}: {p.pattern!r} in …{text[max(0, m.start() - 80) : m.end() + 40]!r}…")
    return found


def envelope_of(xml: bytes) -> Any:
    result = Validator().validate(xml)
    assert result.envelope is not None, result.errors
    return result.envelope


def shared_examples() -> list[bytes]:
    """../shared/medcom/examples re-addressed to the test partners (HOSPITAL -> MUNICIPALITY)."""
    if not Path(EXAMPLES).is_dir():
        return []
    out = []
    for path in sorted(Path(EXAMPLES).glob("*.xml")):
        xml = path.read_bytes()
        result = Validator().validate(xml)
        env = result.envelope
        if env is not None and env.sender.ean and env.receiver.ean and env.sender.ean != env.receiver.ean:
            xml = xml.replace(env.sender.ean.encode(), HOSPITAL.encode())
            xml = xml.replace(env.receiver.ean.encode(), MUNICIPALITY.encode())
        out.append(xml)
    return out


def test_no_cpr_or_patient_name_in_logs_metrics_api_or_mail(world_factory: Any) -> None:
    world: World = world_factory(health={"auto_confirm": True})
    c = SAMPLE_CPRS
    valid = [
        xdis91_message(envelope_id="ENVCPR0001", letter_id="LETCPR0001", cpr=c[0]),
        xdis20_message(envelope_id="ENVCPR0002", letter_id="LETCPR0002", cpr=c[1]),
        ggop_message(envelope_id="ENVCPR0003", letter_id="LETCPR0003", cpr=c[2]),
        xdis18_message(envelope_id="ENVCPR0004", letter_id="LETCPR0004", cpr=c[3]),
    ]
    invalid = xdis91_message(envelope_id="ENVCPR0005", letter_id="LETCPR0005", cpr=c[4]).replace(
        b"<Priority>rutine</Priority>", b"<Priority>straks-ugyldig</Priority>"
    )
    examples = shared_examples()
    cprs, names = set(c), set(SAMPLE_NAMES)
    for xml in [*valid, invalid, *examples]:
        more_cprs, more_names = patient_data(xml)
        cprs |= more_cprs
        names |= more_names
    patterns = needles(cprs, names)
    # the scanner itself finds what it must find (so zero hits below means something)
    assert hits(valid[0].decode("cp1252"), patterns, "sample"), "the scan patterns do not match the samples"

    # phase 1: the receiver works - valid, invalid, duplicate, examples, receipts both ways
    statuses = [world.post_message(xml).status for xml in valid]
    assert statuses == [202] * 4, statuses
    assert world.post_message(invalid).status == 422
    assert world.post_message(valid[0]).status == 200  # duplicate
    for xml in examples:
        world.post_message(xml)  # accepted or refused: both must be free of personal data
    world.receiver.wait_for(4, timeout=30)
    positive = build_positive_receipt(envelope_of(valid[0]), envelope_id="KVITCPR01", letter_id="KVLCPR01", sent=SENT)
    negative = build_negative_receipt(
        envelope_of(valid[1]),
        envelope_id="KVITCPR02",
        letter_id="KVLCPR02",
        sent=SENT,
        refuse_code="syntaksfejl",
        refuse_text="Kan ikke læses",
    )
    for receipt in (positive, negative):
        assert world.post_message(receipt, token="municipality").status == 202

    # phase 2: an outage - alert mail, auto-confirmed incident (receipt mail), a notice, recovery mails
    world.receiver.mode = "fail"
    assert world.post_message(xdis91_message(envelope_id="ENVCPR0006", letter_id="LETCPR0006", cpr=c[5])).status == 202
    world.wait_until(lambda: any("NEDE" in m.subject for m in world.mails()), timeout=40, what="the alert mail")
    incident = world.wait_until(
        lambda: [i for i in world.call("GET", "/api/v1/incidents").body["incidents"] if i["state"] == "open"],
        what="the auto-confirmed incident",
    )[0]
    end = (datetime.fromisoformat(incident["start"].replace("Z", "+00:00")) + timedelta(hours=4)).isoformat()
    r = world.post_json(
        f"/api/v1/incidents/{incident['id']}/updates", {"text": "Modtageren er nede.", "expected_end": end}
    )
    assert r.status == 200, r
    world.wait_until(lambda: len(world.mails()) >= 3, what="alert, receipt and notice mails")
    world.receiver.mode = "ok"
    world.wait_until(lambda: any("OK igen" in m.subject for m in world.mails()), timeout=40, what="the recovered mail")
    world.wait_until(
        lambda: world.call("GET", f"/api/v1/incidents/{incident['id']}").body["state"] == "resolved",
        what="the incident resolved",
    )

    # collect every API surface once more (all responses are kept in world.responses)
    world.call("GET", "/api/v1/routes")
    world.call("GET", f"/api/v1/routes/{HOSPITAL}/{MUNICIPALITY}")
    world.call("GET", "/routes", token=None)
    world.call("GET", "/readyz", token=None)
    world.call("GET", "/status", token=None)
    world.call("GET", "/api/v1/incidents")
    world.call("GET", f"/api/v1/incidents/{incident['id']}")
    world.call("GET", "/api/v1/messages?limit=1000")
    listing = world.call("GET", "/api/v1/messages?limit=1000", token=TOKENS["hospital"])
    for row in listing.body["messages"]:
        world.call("GET", f"/api/v1/messages/{row['id']}", token=TOKENS["hospital"])
    metrics_text = world.metrics()

    found: list[str] = []
    log_text = world.service.log_text()
    assert "receiver_down" in log_text and "message_accepted" in log_text  # the log is the real one
    found += hits(log_text, patterns, "service.log")
    found += hits(metrics_text, patterns, "/metrics")
    for i, raw in enumerate(world.responses):
        found += hits(raw.decode("utf-8", "replace"), patterns, f"API response #{i}")
    mails = world.mails()
    assert len(mails) >= 4, [m.subject for m in mails]
    for m in mails:
        found += hits(f"{m.subject}\n{m.text()}\n{m.html()}", patterns, f"mail {m.subject!r} to {m.rcpt_tos}")
    assert found == [], "\n".join(found[:20])
