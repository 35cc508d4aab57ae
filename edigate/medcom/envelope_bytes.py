"""Reading the envelope of a schema-valid, single-letter message straight from its bytes.

Why: on small messages the tree walk of envelope.py (an lxml proxy object per visited element) cost as
much as parsing and validating together. Once libxml2 has found a message well-formed and valid, and when
it holds no comment, CDATA section or processing instruction, every '<' in its bytes starts a tag. The
fixed element order of the MedCom head (Envelope; then Letter, Sender, Receiver, Patient in the letter
root) can then be matched by one compiled regular expression anchored at the start of the document, which
runs in C.

The result must be exactly what the tree reader gives, so anything this module is not sure of returns None
and the caller reads the tree: another element order, attributes on the elements read, a comment, CDATA
section or processing instruction in the part matched (the pattern never steps over "<!" or "<?"), a
value with a character reference, a non-ASCII or CR character, a duplicated field, an EpisodeOfCare
identifier under Patient. Parties are remembered by their block bytes (and the declared encoding when the
block is not ASCII); the first time a block is seen its Party is read from the tree.
tests/unit/medcom/test_envelope_bytes.py holds both readers to the same
answers on every MedCom example and on generated variants.
"""

from __future__ import annotations

import re

from lxml import etree

from edigate.medcom.envelope import party_of, sent_value
from edigate.medcom.model import Envelope, Letter, Party, frozen

_WS = rb"\s*"
_NAME = rb"[A-Za-z_][\w.:-]*"  # any element name, prefixed or not
_ANY_LEAF = rb"<" + _NAME + rb">[^<]*</" + _NAME + rb">"
_HEADS: dict[bytes, re.Pattern[bytes]] = {}  # per namespace prefix of the common elements ("" or b"c:")
_HEADS_MAX = 16
_PREFIX = re.compile(rb"(?:[A-Za-z_][\w.-]*:)?")


def _head(prefix: bytes) -> re.Pattern[bytes]:
    """The pattern of the MedCom head, with the common elements written as `<{prefix}Name>`.

    Tags are matched literally (no attributes, one prefix): libxml2 has checked the document, so only the
    layout is left to recognise, and literal tags keep the pattern in the fast paths of the regex engine."""

    def start(name: bytes) -> bytes:
        return b"<" + re.escape(prefix + name) + b">"

    def end(name: bytes) -> bytes:
        return b"</" + re.escape(prefix + name) + b">"

    def leaf(name: bytes, group: bytes | None = None) -> bytes:
        text = b"(?P<" + group + b">[^<]*)" if group else b"[^<]*"
        return start(name) + text + end(name)

    def block(name: bytes, group: bytes) -> bytes:
        """The element with its content captured: no start or end tag of the same name inside."""
        tag = re.escape(prefix + name)
        return start(name) + b"(?P<" + group + b">[^<]*(?:<(?![!?]|/?" + tag + b"[\\s>/])[^<]*)*)" + end(name)

    def optional(part: bytes) -> bytes:
        return b"(?:" + part + _WS + b")?"

    envelope = _WS.join(
        (
            start(b"Envelope"),
            start(b"Sent"),
            leaf(b"Date", b"date"),
            leaf(b"Time", b"time"),
            end(b"Sent"),
            leaf(b"Identifier", b"envelope_id"),
            leaf(b"AcknowledgementCode", b"ack"),
            end(b"Envelope"),
        )
    )
    # Letter: Identifier, VersionCode, StatisticalCode, Authorisation?, TypeCode?, StatusCode,
    # EpisodeOfCareIdentifier?, then flat fields only
    authorisation = start(b"Authorisation") + b"(?:" + _WS + _ANY_LEAF + b")*" + _WS + end(b"Authorisation")
    first_fields = (
        leaf(b"Identifier", b"letter_id"),
        leaf(b"VersionCode", b"version"),
        leaf(b"StatisticalCode", b"statistical"),
    )
    letter = (
        _WS.join((start(b"Letter"), *first_fields))
        + _WS
        + optional(authorisation)
        + optional(leaf(b"TypeCode"))
        + leaf(b"StatusCode", b"status")
        + _WS
        + optional(leaf(b"EpisodeOfCareIdentifier", b"episode"))
        + b"(?P<letter_tail>(?:"
        + _ANY_LEAF
        + _WS
        + b")*)"
        + end(b"Letter")
    )
    patient = re.escape(prefix + b"Patient")
    # whatever comes before Patient (CCReceiver blocks and the like), then Patient, CPR first
    before_patient = b"[^<]*(?:<(?![!?]|" + patient + rb"[\s>/])[^<]*)*"
    patient_element = (
        start(b"Patient")
        + _WS
        + leaf(b"CivilRegistrationNumber", b"cpr")
        + b"(?P<patient_tail>[^<]*(?:<(?![!?]|/?"
        + patient
        + rb"[\s>/])[^<]*)*)"
        + end(b"Patient")
    )
    document_start = rb"(?:\xef\xbb\xbf)?(?:<\?xml[^<>]*\?>)?\s*<(?:[A-Za-z_][\w.-]*:)?Emessage(?:\s[^<>]*)?>"
    letter_root = b"<" + _NAME + b">"
    head = _WS.join(
        (document_start, envelope, letter_root, letter, block(b"Sender", b"sender"), block(b"Receiver", b"receiver"))
    )
    return re.compile(head + before_patient + patient_element)


def _head_for(data: bytes) -> re.Pattern[bytes] | None:
    """The head pattern for the prefix the message gives its Envelope ("" in classic OIOXML)."""
    at = data.find(b"Envelope>", 0, 4096)
    if at < 0:
        return None
    prefix = data[data.rfind(b"<", 0, at) + 1 : at]
    pattern = _HEADS.get(prefix)
    if pattern is None:
        if len(_HEADS) >= _HEADS_MAX or not _PREFIX.fullmatch(prefix):
            return None  # not a start tag, or one odd prefix too many: not worth a compiled pattern
        pattern = _HEADS[prefix] = _head(prefix)
    return pattern


_LETTER_FIELD = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:Identifier|VersionCode|StatisticalCode|StatusCode|EpisodeOfCareIdentifier)[\s>/]"
)
_PATIENT_FIELD = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?EpisodeOfCareIdentifier[\s>/]")
_NOT_TEXT = re.compile(rb"[^\x09\x0a\x20-\x25\x27-\x7e]")  # what decodes differently or needs unescaping

_PARTIES: dict[bytes | tuple[bytes, bytes], Party] = {}
_PARTIES_MAX = 1024


def read_valid(
    data: bytes,
    letter_root: etree._Element,
    type_code: str,
    namespace: str,
) -> Envelope | None:
    """The Envelope of a schema-valid message with one letter, or None when the tree must be read."""
    head = _head_for(data)
    m = head.match(data) if head is not None else None
    if m is None:
        return None
    date, time, envelope_id, ack, letter_id, version, statistical, status, episode, cpr = m.group(
        "date", "time", "envelope_id", "ack", "letter_id", "version", "statistical", "status", "episode", "cpr"
    )
    fields = b"".join((date, time, envelope_id, ack, letter_id, version, statistical, status, episode or b"", cpr))
    if _NOT_TEXT.search(fields) is not None:
        return None
    if _LETTER_FIELD.search(m.group("letter_tail")) is not None:
        return None  # a second Identifier, StatusCode … : the tree reader decides which one counts
    if not (episode or b"").strip() and _PATIENT_FIELD.search(m.group("patient_tail")) is not None:
        return None
    cpr_text = _text(cpr)
    if cpr_text is None:
        return None  # an empty first CPR: the tree reader would look further
    sender = _party(m.group("sender"), data, letter_root, "Sender")
    receiver = _party(m.group("receiver"), data, letter_root, "Receiver")
    letter = frozen(
        Letter,
        {
            "id": _text(letter_id) or "",
            "type": type_code,
            "root": _local_name(letter_root.tag),
            "version_code": _text(version),
            "statistical_code": _text(statistical),
            "status": _text(status),
            "sender": sender,
            "receiver": receiver,
            "episode_of_care_id": _text(episode) if episode is not None else None,
            "patient_cpr": cpr_text,
        },
    )
    return frozen(
        Envelope,
        {
            "id": _text(envelope_id) or "",
            "sent": sent_value(_text(date), _text(time)),
            "acknowledgement_code": _text(ack),
            "namespace": namespace,
            "message_type": type_code,
            "letters": (letter,),
            "receipt": None,
        },
    )


def _text(raw: bytes) -> str | None:
    return raw.decode("ascii").strip() or None


def _local_name(tag: object) -> str:
    return tag[tag.find("}") + 1 :] if isinstance(tag, str) else ""


def _party(block: bytes, data: bytes, letter_root: etree._Element, name: str) -> Party:
    """The party of a Sender or Receiver block: remembered by its bytes, read from the tree the first time."""
    key: bytes | tuple[bytes, bytes] = block
    if not block.isascii():  # the same bytes read differently in UTF-8 and windows-1252
        end = data.find(b"?>", 0, 200)
        key = (data[: end + 2] if end >= 0 else b"", block)
    party = _PARTIES.get(key)
    if party is None:
        party = party_of(letter_root, name)
        if len(_PARTIES) >= _PARTIES_MAX:
            _PARTIES.clear()
        _PARTIES[key] = party
    return party
