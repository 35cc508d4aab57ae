"""Reading the envelope model (edigate.medcom.model) out of a parsed MedCom tree.

Best effort by design: it works on schema-INVALID but well-formed messages too, so a negative receipt can
name the original. Elements are matched by local name, because municipality 1.0.x messages mix the 1.0.0
namespace (Envelope, Letter, Sender …) with the message's own namespace.

This runs on the hot path of every message, where the cost per visited element (an lxml proxy object, its
tag string, a few bytecodes) dominates. So each container is read in one pass over its children, the
letter root only up to Patient (the clinical body is never visited); the tag of each child is looked up
once in a per-container dict from Clark tag to field slot (tags repeat across messages; comments and
processing instructions map to "no field"); Sender and Receiver blocks, which repeat byte for byte between
the same partners, are remembered by their serialised bytes; the sent time per (date, time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from lxml import etree

from edigate.medcom.catalogue import MessageType
from edigate.medcom.model import Envelope, Letter, OriginalLetterRef, Party, ReceiptContent

NOT_LETTERS = frozenset({"Envelope", "Local_Elements"})
ReceiptKind = Literal["positive", "negative", "negative_vans"]
RECEIPT_KINDS: dict[str, ReceiptKind] = {
    "PositiveReceipt": "positive",
    "NegativeReceipt": "negative",
    "NegativeVansReceipt": "negative_vans",
}

# Tag (Clark notation) -> local name; "" for the tags of comments, processing instructions and entities.
_LOCAL: dict[object, str] = {}
_LOCAL_MAX = 4096  # hostile documents may carry many distinct tags; the cache is then rebuilt
_TAG_CACHE_MAX_CHARS = 256  # MedCom tags are far shorter; longer (hostile) ones are never remembered
_NOT_ELEMENT_TAGS = (etree.Comment, etree.ProcessingInstruction, etree.Entity)


def _reset_local() -> None:
    _LOCAL.clear()
    _LOCAL.update(dict.fromkeys(_NOT_ELEMENT_TAGS, ""))


_reset_local()


def _local_miss(tag: object) -> str:
    """The local name of a tag not yet in the cache ("" when it is not an element's tag)."""
    if not isinstance(tag, str):
        return ""
    name = tag[tag.find("}") + 1 :]
    if len(tag) <= _TAG_CACHE_MAX_CHARS:
        if len(_LOCAL) >= _LOCAL_MAX:
            _reset_local()
        _LOCAL[tag] = name
    return name


def _local(tag: object) -> str:
    name = _LOCAL.get(tag)
    return name if name is not None else _local_miss(tag)


def tag_local_name(tag: object) -> str:
    """Local name of an element's tag (Clark notation); "" for the tag of a comment or processing
    instruction."""
    return _local(tag)


class _Slots:
    """Tag (Clark notation) -> index of the wanted local name in `names`, -1 for any other child (comments
    and processing instructions included). Filled lazily: tags repeat from message to message."""

    __slots__ = ("index", "map")

    def __init__(self, *names: str) -> None:
        self.index = {name: i for i, name in enumerate(names)}
        self.map: dict[object, int] = {}

    def miss(self, tag: object) -> int:
        slot = self.index.get(_local(tag), -1)
        if not isinstance(tag, str) or len(tag) <= _TAG_CACHE_MAX_CHARS:
            if len(self.map) >= _LOCAL_MAX:
                self.map.clear()
            self.map[tag] = slot
        return slot


def _values(el: etree._Element, slots: _Slots) -> list[str | None]:
    """Per wanted name (in `slots` order): the stripped, non-empty text of the first child of that local name
    with such a text, else None. The same as `_texts`, in a list."""
    values: list[str | None] = [None] * len(slots.index)
    slot_of = slots.map
    for child in el[:]:  # one C call for all children; cheaper than the iterator
        tag = child.tag
        try:
            slot = slot_of[tag]
        except KeyError:
            slot = slots.miss(tag)
        if slot >= 0 and values[slot] is None:
            text = child.text
            if text and (text := text.strip()):
                values[slot] = text
    return values


def local_name(el: etree._Element) -> str | None:
    """Local name of an element; None for comments and processing instructions."""
    return _local(el.tag) or None


def _fields(el: etree._Element | None, wanted: frozenset[str]) -> dict[str, etree._Element]:
    """The first child element per wanted local name, in one pass."""
    out: dict[str, etree._Element] = {}
    if el is None:
        return out
    get = _LOCAL.get
    for child in el:
        tag = child.tag
        name = get(tag)
        if name is None:
            name = _local_miss(tag)
        if name in wanted and name not in out:
            out[name] = child
    return out


def _texts(el: etree._Element | None, wanted: frozenset[str]) -> dict[str, str]:
    """Stripped, non-empty text of the first child per wanted local name (the first with such a text)."""
    out: dict[str, str] = {}
    if el is None:
        return out
    get = _LOCAL.get
    for child in el:
        tag = child.tag
        name = get(tag)
        if name is None:
            name = _local_miss(tag)
        if name in wanted and name not in out:
            text = child.text
            if text:
                text = text.strip()
                if text:
                    out[name] = text
    return out


def _first_text(el: etree._Element | None, name: str) -> str | None:
    return _texts(el, frozenset((name,))).get(name)


_SENT: dict[tuple[str, str], datetime | None] = {}  # messages sent in the same minute share the value
_SENT_MAX = 1024


def sent_value(date: str | None, time: str | None) -> datetime | None:
    """Envelope Sent from its Date and Time texts (minute precision, naive local time)."""
    if not date or not time or len(date) != 10 or len(time) != 5:
        return None  # only YYYY-MM-DD and hh:mm are read (and remembered)
    key = (date, time)
    try:
        return _SENT[key]
    except KeyError:
        pass
    value = _parse_sent(date, time)
    if len(_SENT) >= _SENT_MAX:
        _SENT.clear()
    _SENT[key] = value
    return value


def _parse_sent(date: str, time: str) -> datetime | None:
    if len(date) != 10 or len(time) != 5 or date[4] != "-" or date[7] != "-" or time[2] != ":":
        return None
    try:
        return datetime(int(date[:4]), int(date[5:7]), int(date[8:]), int(time[:2]), int(time[3:]))
    except ValueError:
        return None


_NO_PARTY = Party(ean=None)
# Sender and Receiver blocks repeat byte for byte: a gateway talks to a limited set of partners. The
# serialised element is the key (the same bytes hold the same names and texts), and Party is frozen, so
# equal ones are shared. Serialising in C costs less than reading the children one by one in Python.
_PARTY_SLOTS = _Slots("EANIdentifier", "Identifier", "IdentifierCode", "OrganisationName", "DepartmentName", "UnitName")
_PARTIES: dict[bytes, Party] = {}
_PARTIES_MAX = 1024
_PARTY_KEY_MAX_BYTES = 2048  # larger (odd) blocks are read directly and not remembered


def _party(el: etree._Element | None) -> Party:
    if el is None:
        return _NO_PARTY
    key = etree.tostring(el, with_tail=False)
    party = _PARTIES.get(key)
    if party is None:
        ean, identifier, code, organisation, department, unit = _values(el, _PARTY_SLOTS)
        party = Party(ean, identifier, code, organisation, department, unit)
        if len(key) <= _PARTY_KEY_MAX_BYTES:
            if len(_PARTIES) >= _PARTIES_MAX:
                _PARTIES.clear()
            _PARTIES[key] = party
    return party


def party_of(letter_root: etree._Element, name: str) -> Party:
    """The Sender or Receiver (`name`) of a letter root: its first child of that local name."""
    for child in letter_root:
        if _local(child.tag) == name:
            return _party(child)
    return _NO_PARTY


def scan(root: etree._Element) -> tuple[etree._Element | None, list[etree._Element]]:
    """One pass over an Emessage's children: its first Envelope and its letter roots (every element but
    Envelope and Local_Elements)."""
    envelope: etree._Element | None = None
    letters: list[etree._Element] = []
    get = _LOCAL.get
    for child in root:
        tag = child.tag
        name = get(tag)
        if name is None:
            name = _local_miss(tag)
        if name == "Envelope":
            if envelope is None:
                envelope = child
        elif name and name != "Local_Elements":
            letters.append(child)
    return envelope, letters


_LETTER = frozenset({"Letter"})
_VERSION = frozenset({"VersionCode"})


def letter_version_code(letter_root: etree._Element) -> str | None:
    return _texts(_fields(letter_root, _LETTER).get("Letter"), _VERSION).get("VersionCode")


_ORIGINAL = frozenset({"OriginalEnvelopeIdentifier", "OriginalSender", "OriginalReceiver", "RefuseCode", "RefuseText"})
_ORIGINAL_LETTER = frozenset({"OriginalLetterIdentifier", "OriginalVersionCode", "RefuseCode", "RefuseText"})


def _receipt(kind: ReceiptKind, el: etree._Element | None) -> ReceiptContent:
    kids = _fields(el, _ORIGINAL)
    originals: list[OriginalLetterRef] = []
    refusals: list[tuple[str, str | None, str | None]] = []
    if el is not None:
        for child in el:
            if local_name(child) != "OriginalLetter":
                continue
            ol = _fields(child, _ORIGINAL_LETTER)
            letter_id = _text(ol.get("OriginalLetterIdentifier")) or ""
            originals.append(OriginalLetterRef(letter_id, _text(ol.get("OriginalVersionCode"))))
            code, text = _text(ol.get("RefuseCode")), _refuse_text(ol.get("RefuseText"))
            if code or text:
                refusals.append((letter_id, code, text))
    return ReceiptContent(
        kind=kind,
        original_envelope_id=_text(kids.get("OriginalEnvelopeIdentifier")) or "",
        original_sender_ean=_first_text(kids.get("OriginalSender"), "EANIdentifier"),
        original_receiver_ean=_first_text(kids.get("OriginalReceiver"), "EANIdentifier"),
        original_letters=tuple(originals),
        refuse_code=_text(kids.get("RefuseCode")),
        refuse_text=_refuse_text(kids.get("RefuseText")),
        letter_refusals=tuple(refusals),
    )


def _text(el: etree._Element | None) -> str | None:
    if el is None:
        return None
    text = el.text
    if text is None:
        return None
    return text.strip() or None


def _refuse_text(el: etree._Element | None) -> str | None:
    """RefuseText is BreakableText: text with <Break/> and <Space/>; read it as plain text."""
    if el is None:
        return None
    parts: list[str] = [el.text or ""]
    for child in el:
        parts.append("\n" if local_name(child) == "Break" else " ")
        parts.append(child.tail or "")
    value = "".join(parts).strip()
    return value or None


_PART_SLOTS = _Slots("Letter", "Sender", "Receiver", "Patient", "OriginalEmessage")
_LETTER_SLOTS = _Slots("Identifier", "VersionCode", "StatisticalCode", "StatusCode", "EpisodeOfCareIdentifier")
_PATIENT_SLOTS = _Slots("CivilRegistrationNumber", "EpisodeOfCareIdentifier")
_PATIENT = 3


def _letter(letter_root: etree._Element, type_code: str) -> tuple[Letter, etree._Element | None]:
    # Letter, Sender, Receiver, Patient (and OriginalEmessage): the first of each, up to Patient; the
    # clinical body follows Patient and is never visited.
    parts: list[etree._Element | None] = [None, None, None, None, None]
    get = _PART_SLOTS.map.get
    for child in letter_root:
        tag = child.tag
        slot = get(tag)
        if slot is None:
            slot = _PART_SLOTS.miss(tag)
        if slot >= 0 and parts[slot] is None:
            parts[slot] = child
            if slot == _PATIENT:
                break
    letter_el, sender, receiver, patient, original = parts
    if letter_el is not None:
        ident, version, statistical, status, episode = _values(letter_el, _LETTER_SLOTS)
    else:
        ident = version = statistical = status = episode = None
    cpr = None
    if patient is not None:
        cpr, patient_episode = _values(patient, _PATIENT_SLOTS)
        episode = episode or patient_episode
    letter = Letter(
        ident or "",
        type_code,
        _local(letter_root.tag),
        version,
        statistical,
        status,
        _party(sender),
        _party(receiver),
        episode,
        cpr,
    )
    return letter, original


_ENVELOPE_SLOTS = _Slots("Identifier", "AcknowledgementCode", "Sent")
_SENT_SLOT = 2
_SENT_SLOTS = _Slots("Date", "Time")


def _envelope_head(el: etree._Element) -> tuple[str | None, str | None, datetime | None]:
    """Identifier and AcknowledgementCode (the stripped text of the first element of each name, None when
    empty) and Sent of an Envelope, in one pass."""
    seen = [False, False, False]
    texts: list[str | None] = [None, None]
    sent_el = None
    slot_of = _ENVELOPE_SLOTS.map
    for child in el[:]:
        tag = child.tag
        try:
            slot = slot_of[tag]
        except KeyError:
            slot = _ENVELOPE_SLOTS.miss(tag)
        if slot < 0 or seen[slot]:
            continue
        seen[slot] = True
        if slot == _SENT_SLOT:
            sent_el = child
        else:
            text = child.text
            texts[slot] = (text.strip() or None) if text is not None else None
    sent = None if sent_el is None else sent_value(*_values(sent_el, _SENT_SLOTS))
    return texts[0], texts[1], sent


_EMPTY_LETTER = Letter("", "", "", None, None, None, _NO_PARTY, _NO_PARTY)
_STATISTICAL = frozenset({"StatisticalCode"})


def extract(
    tree: etree._ElementTree | etree._Element,
    message_type: MessageType | None = None,
    letters: list[etree._Element] | None = None,
) -> Envelope | None:
    """The Envelope of a parsed message, or None when the root is not an Emessage.

    `letters` may pass the letter roots when the caller already has them. Missing values become ""
    (ids) or None; nothing here raises on odd but well-formed input."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    tag = root.tag
    if _local(tag) != "Emessage":
        return None
    envelope_el, found = scan(root)
    return read(root, envelope_el, found if letters is None else letters, message_type)


def read(
    root: etree._Element,
    envelope_el: etree._Element | None,
    letters: list[etree._Element],
    message_type: MessageType | None = None,
) -> Envelope:
    """The Envelope of an Emessage `root` whose first Envelope element and letter roots are known."""
    envelope_id = acknowledgement = None
    sent: datetime | None = None
    if envelope_el is not None:
        envelope_id, acknowledgement, sent = _envelope_head(envelope_el)
    out: list[Letter] = []
    receipt: ReceiptContent | None = None
    for letter_root in letters:
        if message_type is not None:
            type_code = message_type.type_code
        else:
            stat = _texts(_fields(letter_root, _LETTER).get("Letter"), _STATISTICAL)
            type_code = stat.get("StatisticalCode") or _local(letter_root.tag)
        letter, original = _letter(letter_root, type_code)
        out.append(letter)
        if receipt is None:
            kind = RECEIPT_KINDS.get(letter.root)
            if kind is not None:
                receipt = _receipt(kind, original)
    if not out:
        out.append(_EMPTY_LETTER)
    tag = root.tag
    namespace = tag[1 : tag.find("}")] if isinstance(tag, str) and tag[:1] == "{" else ""
    return Envelope(
        envelope_id or "",
        sent,
        acknowledgement,
        namespace,
        message_type.type_code if message_type else out[0].type,
        tuple(out),
        receipt,
    )
