"""The stored form of a message body: compressed before it is sealed, because bodies are most of the store.

MedCom XML and FHIR compress 4-8x with zlib, and a body is stored once but kept for the retention period,
so a region's store of millions of messages shrinks by more than half (issue 14). Compression comes before
encryption (ciphertext does not compress). The stored bytes tell their form by their first bytes, so rows
written before this change stay readable without a migration:

* ``b"EGZ1" | zlib stream``: a compressed body (new rows whose body shrinks);
* anything else: the body as it arrived (older rows, and bodies too small to shrink).

``crypto.seal_rows`` / ``crypto.open_body`` apply this inside the encryption: a sealed body's plaintext is
one of the two forms. A body as it arrives never starts with ``EGZ1`` or ``EGC1`` in practice (XML starts
with "<" or a byte-order mark, FHIR JSON with "{"); one that does (hostile input, stored as rejected) is
always stored compressed, so it reads back exactly as it came and is never mistaken for a stored form.
"""

from __future__ import annotations

import zlib

COMPRESSED = b"EGZ1"
SEALED = b"EGC1"  # crypto.MAGIC: an encrypted body (see edigate.store.crypto)
LEVEL = 6  # zlib's default: 2-3x faster than 9 on MedCom XML, within 2 % of its size


class BodyDecodeError(ValueError):
    """A stored body marked compressed that does not decompress (damaged bytes)."""


def pack(body: bytes) -> bytes:
    """The stored form of `body`: compressed when that makes it smaller (or when the body itself starts
    like a stored form), otherwise the body unchanged."""
    if not body:
        return body
    packed = COMPRESSED + zlib.compress(body, LEVEL)
    if len(packed) < len(body) or body.startswith((COMPRESSED, SEALED)):
        return packed
    return body


def unpack(stored: bytes) -> bytes:
    """The body as it arrived, from either stored form (an empty, purged body stays empty)."""
    if not stored.startswith(COMPRESSED):
        return stored
    try:
        return zlib.decompress(stored[len(COMPRESSED) :])
    except zlib.error:
        raise BodyDecodeError("a stored body marked compressed does not decompress (damaged bytes)") from None


def is_compressed(stored: bytes) -> bool:
    return stored.startswith(COMPRESSED)
