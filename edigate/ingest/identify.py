"""Stage: which format adapter reads this body, decided from the content (the content type must agree).

A FHIR message is a JSON object or an XML document whose root is `Bundle`; every other XML body is read
as OIOXML (whose validator answers a foreign root with its own clear refusal). Only the first bytes are
looked at, so the OIOXML hot path pays one short regex search.
"""

from __future__ import annotations

import re

from edigate.ingest.answers import error
from edigate.ingest.model import RECEIVED_REFUSED, Answer, IngestContext
from edigate.ingest.services import IngestServices

FHIR = "fhir"
OIOXML = "oioxml"
JSON_TYPES = ("application/fhir+json", "application/json")
FHIR_XML_TYPE = "application/fhir+xml"
FHIR_TYPES = ("application/fhir+json", FHIR_XML_TYPE)
_SNIFF_BYTES = 4096
# the first start tag that is not a processing instruction, comment or DOCTYPE
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_ROOT = re.compile(rb"<(?![?!])(?:[A-Za-z_][\w.\-]*:)?([A-Za-z_][\w.\-]*)")


def root_name(body: bytes) -> str | None:
    """The local name of the first element, or None (JSON, empty, not XML)."""
    head = body[:_SNIFF_BYTES]
    if b"<!--" in head:
        head = _COMMENT.sub(b"", head)
    m = _ROOT.search(head)
    return m.group(1).decode("ascii", "replace") if m else None


def looks_like_json(body: bytes) -> bool:
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head[:1] in (b"{", b"[")


def format_of(body: bytes, content_type: str) -> str:
    """ "fhir" or "oioxml". A FHIR media type is always FHIR (a body that is not a Bundle is then refused in
    FHIR's terms); otherwise the content decides: JSON or an XML `Bundle` is FHIR, other XML is OIOXML."""
    if content_type in FHIR_TYPES or looks_like_json(body):
        return FHIR
    name = root_name(body)
    if name == "Bundle" or (name is None and content_type in JSON_TYPES):
        return FHIR
    return OIOXML


async def identify_format(s: IngestServices, ctx: IngestContext) -> Answer | None:
    ct = ctx.request.content_type
    fhir = s.adapter(FHIR)
    name = format_of(ctx.body, ct) if fhir is not None else OIOXML
    adapter = s.adapter(name)
    if adapter is None or ct not in adapter.content_types():
        ctx.received = RECEIVED_REFUSED
        what = "en FHIR-meddelelse" if name == FHIR else "en OIOXML-meddelelse (MedCom XML)"
        allowed = adapter.content_types() if adapter is not None else ()
        return error(
            415,
            f"Content-Type {ct!r} passer ikke til indholdet: det er {what}"
            + (f" (send den som {' eller '.join(allowed)})" if allowed else ""),
            kind="rejected",
        )
    ctx.adapter = adapter
    return None
