"""Building MedCom receipts: XCTL03 PositiveReceipt and XCTL02 NegativeReceipt.

Receipts are always in the 2005/08/07 namespace (also for XDIS91 originals in 2006/07/01 and municipality
originals), carry AcknowledgementCode `minuspositivkvitt` and validate against MedCom's official schemas.
RefuseText is free text: it is cleaned of CPR-shaped numbers and control characters and kept short.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from lxml import etree

from edigate.medcom.catalogue import RECEIPT_NAMESPACE
from edigate.medcom.ids import MAX_ID_LENGTH
from edigate.medcom.model import REFUSE_CODES, Envelope, OriginalLetterRef

DANISH_TIME = ZoneInfo("Europe/Copenhagen")
# BreakableText has no maxLength in the XSD; receivers that convert to EDIFACT CTL keep about 5×70 chars.
REFUSE_TEXT_MAX = 350
MAX_ORIGINAL_LETTERS = 99  # OriginalLetter maxOccurs
EAN_MAX = 35
ORIGINAL_VERSION_CODE_MAX = 7
_HEX = "[0-9A-Fa-f]"
#: a CPR as ddmmyy-xxxx, ddmmyyxxxx or ddmmyy xxxx, not part of a longer number; a UUID is tried first at
#: each position, so the CPR-shaped run inside one (6c150385-1234-41a4-…) stays whole with it
_CPR = re.compile(
    rf"(?P<uuid>{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})|(?<!\d)\d{{6}}[- ]?\d{{4}}(?!\d)"
)
_ILLEGAL = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd]")


@dataclass(frozen=True)
class OriginalMessage:
    """What a receipt refers to; built from an Envelope or from the ids that could be read."""

    envelope_id: str
    sender_ean: str | None
    receiver_ean: str | None
    letters: tuple[OriginalLetterRef, ...] = ()

    @classmethod
    def of(cls, envelope: Envelope) -> OriginalMessage:
        return cls(
            envelope_id=envelope.id,
            sender_ean=envelope.sender.ean,
            receiver_ean=envelope.receiver.ean,
            letters=tuple(OriginalLetterRef(lt.id, lt.version_code) for lt in envelope.letters),
        )


def clean_refuse_text(text: str) -> str:
    """RefuseText safe for the schema and for privacy: no CPR, no control chars, at most 350 chars."""
    value = _ILLEGAL.sub(" ", text or "")
    value = _CPR.sub(lambda m: m.group("uuid") or "(cpr fjernet)", value)
    value = re.sub(r"[ \t]+", " ", value).strip()
    if len(value) > REFUSE_TEXT_MAX:
        value = value[: REFUSE_TEXT_MAX - 1].rstrip() + "…"
    return value


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{RECEIPT_NAMESPACE}}}{name}")
    if text is not None:
        el.text = text
    return el


def _ean(parent: etree._Element, name: str, ean: str) -> None:
    _sub(_sub(parent, name), "EANIdentifier", ean)


def _breakable(parent: etree._Element, name: str, text: str) -> None:
    """Write text with <Break/> for line breaks (BreakableText)."""
    el = _sub(parent, name)
    lines = text.split("\n")
    el.text = lines[0]
    for line in lines[1:]:
        br = _sub(el, "Break")
        br.tail = line


def _local_time(sent: datetime) -> datetime:
    return sent.astimezone(DANISH_TIME).replace(tzinfo=None) if sent.tzinfo is not None else sent


def _check_id(name: str, value: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{name} must be 1–{MAX_ID_LENGTH} characters")
    return value


def _fit(value: str | None, limit: int) -> str | None:
    if not value:
        return None
    value = value.strip()
    return value[:limit] if value else None


def _build(
    kind: str,
    original: Envelope | OriginalMessage,
    *,
    envelope_id: str,
    letter_id: str,
    sent: datetime,
    sender_ean: str | None,
    receiver_ean: str | None,
    refuse_code: str | None = None,
    refuse_text: str | None = None,
    per_letter: bool = False,
) -> bytes:
    orig = original if isinstance(original, OriginalMessage) else OriginalMessage.of(original)
    _check_id("envelope_id", envelope_id)
    _check_id("letter_id", letter_id)
    orig_envelope_id = _fit(orig.envelope_id, MAX_ID_LENGTH)
    if not orig_envelope_id:
        raise ValueError("the original envelope id is unknown: a receipt cannot name the message it answers")
    own = _fit(sender_ean or orig.receiver_ean, EAN_MAX)
    to = _fit(receiver_ean or orig.sender_ean, EAN_MAX)
    if not own or not to:
        raise ValueError("receipt sender/receiver EAN unknown (original sender or receiver EAN missing)")
    orig_sender = _fit(orig.sender_ean, EAN_MAX) or to
    orig_receiver = _fit(orig.receiver_ean, EAN_MAX) or own

    negative = kind == "negative"
    local = _local_time(sent)
    root = etree.Element(f"{{{RECEIPT_NAMESPACE}}}Emessage", nsmap={None: RECEIPT_NAMESPACE})
    env = _sub(root, "Envelope")
    sent_el = _sub(env, "Sent")
    _sub(sent_el, "Date", local.strftime("%Y-%m-%d"))
    _sub(sent_el, "Time", local.strftime("%H:%M"))
    _sub(env, "Identifier", envelope_id)
    _sub(env, "AcknowledgementCode", "minuspositivkvitt")
    body = _sub(root, "NegativeReceipt" if negative else "PositiveReceipt")
    letter = _sub(body, "Letter")
    _sub(letter, "Identifier", letter_id)
    _sub(letter, "VersionCode", "XC0230Q" if negative else "XC0330Q")
    _sub(letter, "StatisticalCode", "XCTL02" if negative else "XCTL03")
    _ean(body, "Sender", own)
    _ean(body, "Receiver", to)
    om = _sub(body, "OriginalEmessage")
    _sub(om, "OriginalEnvelopeIdentifier", orig_envelope_id)
    _ean(om, "OriginalSender", orig_sender)
    _ean(om, "OriginalReceiver", orig_receiver)
    text = clean_refuse_text(refuse_text or "") if negative else ""
    if negative and not per_letter:
        _sub(om, "RefuseCode", refuse_code)
        if text:
            _breakable(om, "RefuseText", text)
    count = 0
    for ref in orig.letters:
        lid = _fit(ref.letter_id, MAX_ID_LENGTH)
        vc = _fit(ref.version_code, ORIGINAL_VERSION_CODE_MAX)
        if not lid or not vc or count >= MAX_ORIGINAL_LETTERS:
            continue  # an unreadable letter cannot be named; OriginalLetter is optional
        ol = _sub(om, "OriginalLetter")
        _sub(ol, "OriginalLetterIdentifier", lid)
        _sub(ol, "OriginalVersionCode", vc)
        if negative and per_letter:
            _sub(ol, "RefuseCode", refuse_code)
            if text:
                _breakable(ol, "RefuseText", text)
        count += 1
    if negative and per_letter and count == 0:  # no letter to hang the refusal on: say it envelope-wide
        rc = etree.Element(f"{{{RECEIPT_NAMESPACE}}}RefuseCode")
        rc.text = refuse_code
        om.insert(3, rc)
        if text:
            holder = etree.Element("holder")
            _breakable(holder, "RefuseText", text)
            om.insert(4, holder[0])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="ISO-8859-1"))


def build_positive_receipt(
    original: Envelope | OriginalMessage,
    *,
    envelope_id: str,
    letter_id: str,
    sent: datetime,
    sender_ean: str | None = None,
    receiver_ean: str | None = None,
) -> bytes:
    """XCTL03 for `original`. Sender defaults to the original receiver, receiver to the original sender."""
    return _build(
        "positive",
        original,
        envelope_id=envelope_id,
        letter_id=letter_id,
        sent=sent,
        sender_ean=sender_ean,
        receiver_ean=receiver_ean,
    )


def build_negative_receipt(
    original: Envelope | OriginalMessage,
    *,
    envelope_id: str,
    letter_id: str,
    sent: datetime,
    refuse_code: str,
    refuse_text: str,
    sender_ean: str | None = None,
    receiver_ean: str | None = None,
    per_letter: bool = False,
) -> bytes:
    """XCTL02 refusing `original` with `refuse_code` (one of REFUSE_CODES), envelope-wide by default or on
    each original letter with per_letter=True."""
    if refuse_code not in REFUSE_CODES:
        raise ValueError(f"unknown RefuseCode {refuse_code!r}; one of {', '.join(REFUSE_CODES)}")
    return _build(
        "negative",
        original,
        envelope_id=envelope_id,
        letter_id=letter_id,
        sent=sent,
        sender_ean=sender_ean,
        receiver_ean=receiver_ean,
        refuse_code=refuse_code,
        refuse_text=refuse_text,
        per_letter=per_letter,
    )
