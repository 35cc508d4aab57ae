"""Reading the head of a plain, single-letter message straight from its bytes.

Why: on small messages the tree walk of envelope.py (an lxml proxy object per visited element) cost as
much as parsing and validating together. Once libxml2 has found a message well-formed and valid, and when
it holds no comment, CDATA section or processing instruction, every '<' in its bytes starts a tag. The
fixed element order of the MedCom head (Envelope; then Letter, Sender, Receiver, Patient in the letter
root) can then be read with one compiled regular expression anchored at the start of the document, from
the XML declaration to the end of Patient. Its quantifiers are possessive and its tags literal, which keeps
the regex engine on its fast paths.

The head is read before validation, so the validator also learns the message type from it (see
Head.kind) and never has to visit the tree of a plain message. What the head says holds only once libxml2
has found the message valid; the validator uses it only then.

The result must be exactly what the tree reader gives, so anything this module is not sure of returns None
and the caller reads the tree: another element order, attributes on the elements read, a comment, CDATA
section or processing instruction in the part read, a value with a character reference, a non-ASCII or
CR character, a duplicated field, an EpisodeOfCare identifier under Patient. Parties are remembered by
their block bytes (and the declaration when the block is not ASCII); the first time a block is seen its
Party is read from the tree. tests/unit/medcom/test_envelope_bytes.py holds both readers to the same
answers on every MedCom example and on generated variants.
"""

from __future__ import annotations

import re

from lxml import etree

from edigate.medcom.envelope import party_of, sent_value
from edigate.medcom.model import Envelope, Letter, Party, frozen

# The pattern runs on the message's bytes seen as latin-1 text, a one-to-one and nearly free view of the
# bytes, so groups come out as str without a decode per value. re.ASCII keeps \s and \w to their bytes
# meaning. Quantifiers are possessive: a matched part is never given back, so the engine keeps no backtrack
# state.
_WS = r"\s*+"
_NAME = r"[A-Za-z_][\w.:-]*+"  # any element name, prefixed or not
_ANY_LEAF = r"<" + _NAME + r">[^<]*+</" + _NAME + r">"
# A value read: characters that decode alike in every accepted encoding and need no unescaping (no '&',
# no CR, no non-ASCII). A value with any other character makes the pattern fail, and the tree decides.
_VALUE = r"[\t\n\x20-\x25\x27-\x3b\x3d-\x7e]*+"
# Fields the letter must hold once: a second one in the letter's tail leaves the choice to the tree reader.
_NOT_LETTER_FIELD = (
    r"(?!(?:[A-Za-z_][\w.-]*:)?(?:Identifier|VersionCode|StatisticalCode|StatusCode|EpisodeOfCareIdentifier)>)"
)
_PREFIX = re.compile(r"(?:[A-Za-z_][\w.-]*:)?", re.ASCII)
_HEADS: dict[str, re.Pattern[str]] = {}  # per namespace prefix of the common elements ("" or "c:")
_HEADS_MAX = 16


def _head(prefix: str) -> re.Pattern[str]:
    """The pattern of the MedCom head, with the common elements written as `<{prefix}Name>`.

    Tags are matched literally (no attributes, one prefix): libxml2 has checked the document, so only the
    layout is left to recognise, and literal tags keep the pattern in the fast paths of the regex engine.
    The pattern never steps over "<!" or "<?", so a comment, CDATA section or processing instruction in
    the part read makes it fail: where it matches, every '<' starts a tag."""

    def start(name: str) -> str:
        return "<" + re.escape(prefix + name) + ">"

    def end(name: str) -> str:
        return "</" + re.escape(prefix + name) + ">"

    def leaf(name: str, group: str | None = None) -> str:
        text = "(?P<" + group + ">" + _VALUE + ")" if group else "[^<]*+"
        return start(name) + text + end(name)

    def content(name: str, group: str) -> str:
        """The content of an element: no start or end tag of the same name inside, no "<!" or "<?"."""
        tag = re.escape(prefix + name)
        return "(?P<" + group + r">[^<]*+(?:<(?![!?]|/?" + tag + r"[\s>/])[^<]*+)*+)"

    def optional(part: str) -> str:
        return "(?:" + part + _WS + ")?+"

    emessage = r"(?P<emessage><(?:[A-Za-z_][\w.-]*:)?Emessage(?:\s[^<>]*+)?>)"
    document_start = r"(?:\xef\xbb\xbf)?(?:<\?xml[^<>]*\?>)?\s*+" + emessage
    envelope = _WS.join(
        (
            start("Envelope"),
            start("Sent"),
            leaf("Date", "date"),
            leaf("Time", "time"),
            end("Sent"),
            leaf("Identifier", "envelope_id"),
            leaf("AcknowledgementCode", "ack"),
            end("Envelope"),
        )
    )
    letter_root = "<(?P<letter_root>" + _NAME + ")>"
    # Letter: Identifier, VersionCode, StatisticalCode, Authorisation?, TypeCode?, StatusCode,
    # EpisodeOfCareIdentifier?, then flat fields only
    authorisation = start("Authorisation") + "(?:" + _WS + _ANY_LEAF + ")*+" + _WS + end("Authorisation")
    letter = (
        _WS.join((start("Letter"), leaf("Identifier", "letter_id"), leaf("VersionCode", "version")))
        + _WS
        + leaf("StatisticalCode", "statistical")
        + _WS
        + optional(authorisation)
        + optional(leaf("TypeCode"))
        + leaf("StatusCode", "status")
        + _WS
        + optional(leaf("EpisodeOfCareIdentifier", "episode"))
        + "(?:<"
        + _NOT_LETTER_FIELD
        + _ANY_LEAF[1:]
        + _WS
        + ")*+"
        + end("Letter")
    )
    parties = _WS.join(
        (
            start("Sender") + content("Sender", "sender") + end("Sender"),
            start("Receiver") + content("Receiver", "receiver") + end("Receiver"),
        )
    )
    # whatever comes before Patient (CCReceiver blocks and the like), then Patient with its CPR first
    patient_tag = re.escape(prefix + "Patient")
    before_patient = r"[^<]*+(?:<(?![!?]|" + patient_tag + r"[\s>/])[^<]*+)*+"
    patient = (
        start("Patient")
        + _WS
        + leaf("CivilRegistrationNumber", "cpr")
        + content("Patient", "patient_tail")
        + end("Patient")
    )
    head = _WS.join((document_start, envelope, letter_root, letter, parties)) + before_patient + patient
    pattern = re.compile(head, re.ASCII)
    if tuple(sorted(pattern.groupindex, key=pattern.groupindex.__getitem__)) != _GROUPS:
        raise AssertionError("the head pattern's groups are not in the order read_head unpacks them")
    return pattern


def _head_for(text: str) -> re.Pattern[str] | None:
    """The head pattern for the prefix the message gives its Envelope ("" in classic OIOXML)."""
    at = text.find("Envelope>", 0, 4096)
    if at < 0:
        return None
    prefix = text[text.rfind("<", 0, at) + 1 : at]
    pattern = _HEADS.get(prefix)
    if pattern is None:
        if len(_HEADS) >= _HEADS_MAX or not _PREFIX.fullmatch(prefix):
            return None  # not a start tag, or one odd prefix too many: not worth a compiled pattern
        pattern = _HEADS[prefix] = _head(prefix)
    return pattern


_PARTIES: dict[str | tuple[bytes, str], Party] = {}
_PARTIES_MAX = 1024

# The groups of the head pattern, in the order m.groups() gives them (checked when a pattern is compiled).
_GROUPS = (
    "emessage",
    "date",
    "time",
    "envelope_id",
    "ack",
    "letter_root",
    "letter_id",
    "version",
    "statistical",
    "status",
    "episode",
    "sender",
    "receiver",
    "cpr",
    "patient_tail",
)


class Head:
    """What the byte reader found in a message: its head values and the Sender and Receiver blocks.

    `kind` names the message type: the Emessage start tag (whose namespace declarations are the only ones
    in scope at the letter root), the letter root's qualified name and the raw VersionCode. Equal kinds
    always mean the same (namespace, root, VersionCode), so the validator can remember the catalogue type
    per kind without touching the tree."""

    __slots__ = ("cpr", "kind", "receiver", "sender", "texts", "version_code")
    cpr: str
    kind: tuple[str, str, str]
    receiver: str  # the Receiver block as latin-1 text of its bytes
    sender: str
    texts: list[str | None]  # date, time, envelope id, ack, letter id, version, statistical, status, episode
    version_code: str | None

    def envelope(self, data: bytes, root: etree._Element, type_code: str, letter_root: str, namespace: str) -> Envelope:
        """The Envelope of the message, once libxml2 has found it valid with exactly one letter; `root` is
        its Emessage element (a party seen for the first time is read from the tree)."""
        date, time, envelope_id, ack, letter_id, version, statistical, status, episode = self.texts
        letter = frozen(
            Letter,
            {
                "id": letter_id or "",
                "type": type_code,
                "root": letter_root,
                "version_code": version,
                "statistical_code": statistical,
                "status": status,
                "sender": _party(self.sender, data, root, "Sender"),
                "receiver": _party(self.receiver, data, root, "Receiver"),
                "episode_of_care_id": episode,
                "patient_cpr": self.cpr,
            },
        )
        return frozen(
            Envelope,
            {
                "id": envelope_id or "",
                "sent": sent_value(date, time),
                "acknowledgement_code": ack,
                "namespace": namespace,
                "message_type": type_code,
                "letters": (letter,),
                "receipt": None,
            },
        )


# A message whose Envelope has another prefix fails the previous pattern at its first tag; any pattern that
# matches is the one _head_for would choose (the first "Envelope>" is in the Envelope start tag).
_last: list[re.Pattern[str]] = [_head("")]


def read_head(data: bytes) -> Head | None:
    """The head of a well-formed message in the plain MedCom layout, or None when the tree must be read.

    Only bytes are looked at; what the head says holds once libxml2 has found the message valid. One
    match and a few steps on purpose: this runs for every message, and each Python call costs about as much
    as the regex engine needs for a hundred characters."""
    text = data.decode("latin-1")
    m = _last[0].match(text)  # the pattern of the previous message: traffic keeps to a few prefixes
    if m is None:
        pattern = _head_for(text)
        if pattern is None or pattern is _last[0]:
            return None
        m = pattern.match(text)
        if m is None:
            return None
        _last[0] = pattern
    (
        emessage,
        date,
        time,
        envelope_id,
        ack,
        letter_root,
        letter_id,
        version,
        statistical,
        status,
        episode,
        sender,
        receiver,
        cpr,
        patient_tail,
    ) = m.groups()  # in _GROUPS order
    if (episode is None or not episode.strip()) and "EpisodeOfCareIdentifier" in patient_tail:
        return None  # no episode id in Letter: the tree reader looks for one under Patient
    cpr = cpr.strip()
    if not cpr or not emessage.isascii():
        return None  # an empty first CPR: the tree reader would look further
    head = Head()
    head.texts = texts = [
        date.strip() or None,
        time.strip() or None,
        envelope_id.strip() or None,
        ack.strip() or None,
        letter_id.strip() or None,
        version.strip() or None,
        statistical.strip() or None,
        status.strip() or None,
        episode.strip() or None if episode is not None else None,
    ]
    head.version_code = texts[5]
    head.kind = (emessage, letter_root, version)
    head.sender = sender
    head.receiver = receiver
    head.cpr = cpr
    return head


def _party(block: str, data: bytes, root: etree._Element, name: str) -> Party:
    """The party of a Sender or Receiver block: remembered by its bytes (as latin-1 text), read from the
    tree the first time."""
    key: str | tuple[bytes, str] = block
    if not block.isascii():  # the same bytes read differently in UTF-8 and windows-1252
        end = data.find(b"?>", 0, 200)
        key = (data[: end + 2] if end >= 0 else b"", block)
    party = _PARTIES.get(key)
    if party is None:
        party = party_of(root[1], name)  # the letter root: Envelope is the first child
        if len(_PARTIES) >= _PARTIES_MAX:
            _PARTIES.clear()
        _PARTIES[key] = party
    return party
