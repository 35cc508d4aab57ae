"""Safe intake of MedCom XML bytes with lxml.

MedCom messages never use a DOCTYPE, so any DTD is refused before libxml2 sees it: no entity expansion
(XXE, billion laughs), no network or file access. Size is checked before parsing, depth after (libxml2
itself stops at 256 without huge_tree). Only the encodings MedCom uses are accepted, and a declaration
that lies about the bytes is a syntax error. Every refusal is an `XmlRefused`; no lxml exception escapes.

This is the hot path of every message, so the checks are arranged to cost little on ordinary input:
the byte checks look at the start of the message only (except the DOCTYPE search), the depth of a small
message is bounded from its byte count instead of walking the tree, and windows-1252 (which libxml2
decodes through iconv, slowly) is handed to libxml2's own ISO-8859-1 or UTF-8 decoder when that gives
exactly the same characters.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from edigate.medcom.errors import XmlRefused

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64
LIBXML_DEPTH_LIMIT = 256

# Encodings seen in MedCom production: classic OIOXML is windows-1252 / ISO-8859-1, municipality XML UTF-8.
# All of them are ASCII-compatible: markup bytes ('<', '/', '!') mean the same in each.
ACCEPTED_ENCODINGS = frozenset(
    {
        "utf-8",
        "utf8",
        "windows-1252",
        "cp1252",
        "iso-8859-1",
        "iso8859-1",
        "iso_8859-1",
        "latin-1",
        "latin1",
        "l1",
        "us-ascii",
        "ascii",
    }
)

_DECLARATION = re.compile(rb"^<\?xml\s[^>]{0,200}?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([^"']{0,40})["']""")
_WHITESPACE = b" \t\r\n"
_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"

# What sniff() learnt about a message that passed it (bit flags).
_CHECKED = 1  # the encoding libxml2 will use is known and ASCII-compatible, and no DOCTYPE is in the bytes
_CP1252 = 2  # no BOM, the declaration is exactly at the start and names windows-1252 (or cp1252)
_CP1252_NAMES = frozenset({b"windows-1252", b"cp1252"})

# The declaration is nearly always one of a handful of byte strings: remember the verdict per declaration.
_DECL_VERDICT: dict[bytes, tuple[int, str | None]] = {}
_DECL_CACHE_MAX = 256

# windows-1252 and ISO-8859-1 differ only in the bytes 0x80-0x9F: this table marks those bytes with 1.
_C1_MARK = bytes(1 if 0x80 <= i <= 0x9F else 0 for i in range(256))
# Below this size a message with bytes in 0x80-0x9F is transcoded by Python rather than libxml2's iconv.
_TRANSCODE_MAX_BYTES = 8 * 1024
# Below this size the number of '<' bounds the depth, which is cheaper than walking the tree.
_COUNT_DEPTH_MAX_BYTES = 4 * 1024

_local = threading.local()
_Parsers = tuple[etree.XMLParser, etree.XMLParser, etree.XMLParser]


def _parsers() -> _Parsers:
    """Hardened parsers per thread (lxml parsers must not be shared between threads): one that honours the
    declared encoding, and two that override it with ISO-8859-1 and UTF-8 (for windows-1252 input)."""
    parsers: _Parsers | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = (_new_parser(None), _new_parser("ISO-8859-1"), _new_parser("UTF-8"))
        _local.parsers = parsers
    return parsers


def _new_parser(encoding: str | None) -> etree.XMLParser:
    return etree.XMLParser(
        encoding=encoding,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        collect_ids=False,
    )


def _parser() -> etree.XMLParser:
    """The hardened parser of this thread that honours the declared encoding."""
    return _parsers()[0]


def sniff(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Refuse in microseconds what is certainly not an acceptable MedCom XML document."""
    _sniff(data, max_bytes)


def _sniff(data: bytes, max_bytes: int) -> int:
    if data[:5] == b"<?xml":  # the usual case: nothing before the declaration
        if len(data) > max_bytes:
            raise XmlRefused(f"meddelelsen er for stor: {len(data)} bytes, grænsen er {max_bytes} bytes")
        if data.find(b"\x00", 0, 1024) >= 0:
            raise XmlRefused("UTF-16/UTF-32 eller binært indhold: MedCom XML er UTF-8, windows-1252 eller ISO-8859-1")
        flags = _declaration(data, True)
    else:
        flags = _sniff_general(data, max_bytes)
    pos = data.find(b"<!DOCTYPE")  # "<!ENTITY" is only legal inside a DOCTYPE; libxml2 rejects it alone
    if pos >= 0:
        raise XmlRefused(
            "DOCTYPE/DTD er ikke tilladt i MedCom-meddelelser (entiteter udfoldes aldrig)",
            line=data.count(b"\n", 0, pos) + 1,
        )
    return flags


def _sniff_general(data: bytes, max_bytes: int) -> int:
    if not data or (not data[:64].strip(_WHITESPACE) and not data.strip(_WHITESPACE)):
        raise XmlRefused("tom meddelelse: intet XML-dokument")
    if len(data) > max_bytes:
        raise XmlRefused(f"meddelelsen er for stor: {len(data)} bytes, grænsen er {max_bytes} bytes")
    prefix = data[:1024]  # everything below looks at the start only, never copies the whole message
    if prefix.startswith(_BOMS) or b"\x00" in prefix:
        raise XmlRefused("UTF-16/UTF-32 eller binært indhold: MedCom XML er UTF-8, windows-1252 eller ISO-8859-1")
    head = prefix[3:] if prefix.startswith(_UTF8_BOM) else prefix
    head = head.lstrip(_WHITESPACE) or data.lstrip(_WHITESPACE)[:1024]
    if head[:3] in (b"UNA", b"UNB"):
        raise XmlRefused("EDIFACT-forsendelse (UNA/UNB-segment), ikke XML: send MedCom XML")
    if not head.startswith(b"<"):
        raise XmlRefused("ikke XML: dokumentet begynder ikke med '<' (binært indhold eller ren tekst?)")
    if head.startswith(b"<?xml"):
        return _declaration(head, False)
    return _CHECKED  # no declaration: libxml2 reads UTF-8 (a BOM or NUL bytes were refused above)


def _declaration(head: bytes, at_start: bool) -> int:
    """Check the declared encoding of `head` (which starts with '<?xml') and return the sniff flags."""
    # The declaration ends at the first "?>" (the pattern is lazy); finding that is cheaper than matching,
    # and the pattern itself runs once per distinct declaration.
    end = head.find(b"?>", 5, 208)
    text = head[: end + 2] if end >= 0 else b""
    verdict = _DECL_VERDICT.get(text)
    if verdict is None:
        if _DECLARATION.fullmatch(text) is None:
            return 0  # no declaration we can read: libxml2 decides, and nothing is assumed about the bytes
        verdict = _declaration_verdict(text)
        if len(_DECL_VERDICT) >= _DECL_CACHE_MAX:
            _DECL_VERDICT.clear()
        _DECL_VERDICT[text] = verdict
    flags, refused = verdict
    if refused is not None:
        raise XmlRefused(
            f"den erklærede tegnkodning {refused.upper()!r} accepteres ikke eller passer ikke til indholdet; "
            "MedCom XML er UTF-8, windows-1252 eller ISO-8859-1",
            line=1,
        )
    return flags if at_start else flags & ~_CP1252


def _declaration_verdict(decl: bytes) -> tuple[int, str | None]:
    enc = _ENCODING.search(decl)
    if not enc:
        return _CHECKED, None
    raw = enc.group(1)
    name = raw.decode("ascii", "replace").strip().lower()
    if name not in ACCEPTED_ENCODINGS:
        return 0, name
    return (_CHECKED | _CP1252 if raw.lower() in _CP1252_NAMES else _CHECKED), None


def _clean_syntax_message(msg: str) -> str:
    text = re.sub(r",?\s*line \d+, column \d+\s*$", "", msg or "").strip()
    if text.startswith("Excessive depth in document"):
        return f"elementerne er indlejret dybere end {LIBXML_DEPTH_LIMIT} niveauer"
    if "encoding" in text.lower() or "not proper UTF-8" in text:
        return f"ikke velformet XML: {text} (passer den erklærede tegnkodning til indholdet?)"
    if "Document is empty" in text or "Start tag expected" in text:
        return f"ikke XML: {text}"
    return f"ikke velformet XML: {text}"


def _depth_probe(max_depth: int) -> etree.XPath:
    probes: dict[int, etree.XPath] = getattr(_local, "depth_probes", None) or {}
    probe = probes.get(max_depth)
    if probe is None:
        # An element exists at depth max_depth+1 (root = depth 1): one precompiled XPath, evaluated in C.
        probe = etree.XPath("boolean(/*" + "/*" * max_depth + ")")
        probes[max_depth] = probe
        _local.depth_probes = probes
    return probe


def parse(
    data: bytes,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    reencode: bool = False,
) -> etree._ElementTree:
    """Parse bytes into an lxml tree or raise XmlRefused with a clear message (and line where known).

    With `reencode`, windows-1252 input may be decoded by a faster route (see `parse_root`); the tree has
    the same content, but its docinfo.encoding is then not the declared one. The validator uses this."""
    return parse_root(data, max_bytes, max_depth, reencode).getroottree()


def parse_root(
    data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH, reencode: bool = False
) -> etree._Element:
    """`parse`, giving the root element: the validator's hot path, written out in one function because
    every Python call on it counts."""
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise XmlRefused("intern fejl: meddelelsen skal være bytes")
        data = bytes(data)
    flags = _sniff(data, max_bytes)
    root = None
    if reencode and flags & _CP1252:
        # windows-1252 (which libxml2 decodes through iconv, slowly) agrees with ISO-8859-1 on every byte
        # outside 0x80-0x9F, so without such bytes the message is parsed as ISO-8859-1. Otherwise a small
        # message is decoded by Python's cp1252 codec (which refuses the same five undefined bytes as iconv)
        # and parsed as UTF-8. Either way the tree holds the same characters on the same lines; only its
        # docinfo names another encoding. Any error is left to the ordinary parse, so refusals read the same.
        _, latin1, utf8 = _parsers()
        try:
            if data.isascii() or data.translate(_C1_MARK).find(1) < 0:
                root = etree.fromstring(data, latin1)
            elif len(data) <= _TRANSCODE_MAX_BYTES:
                root = etree.fromstring(data.decode("cp1252").encode("utf-8"), utf8)
        except (etree.LxmlError, ValueError, LookupError, MemoryError):
            root = None  # the ordinary parse below reports it exactly as before
    if root is None:
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            raise XmlRefused(_clean_syntax_message(str(exc.msg)), line=exc.lineno or None) from None
        except (etree.LxmlError, ValueError, LookupError, MemoryError) as exc:  # defensive: never raw lxml
            raise XmlRefused(f"ikke velformet XML: {type(exc).__name__}") from None
        if root is None:
            raise XmlRefused("ikke XML: intet rodelement")
    if not flags & _CHECKED and root.getroottree().docinfo.doctype:
        raise XmlRefused("DOCTYPE/DTD er ikke tilladt i MedCom-meddelelser")
    # An element at depth max_depth+1 has max_depth ancestors, each with a start and an end tag, so the
    # message holds at least 2*max_depth+1 '<' (in an ASCII-compatible encoding, with no DTD to make
    # elements from entities). Counting proves a small message shallow more cheaply than the tree walk.
    if (
        max_depth < LIBXML_DEPTH_LIMIT
        and (not flags & _CHECKED or len(data) > _COUNT_DEPTH_MAX_BYTES or data.count(b"<") > 2 * max_depth)
        and bool(_depth_probe(max_depth)(root))
    ):
        raise XmlRefused(f"elementerne er indlejret dybere end {max_depth} niveauer")
    return root
