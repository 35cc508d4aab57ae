"""The seam for a converter between the two generations (OIOXML ⇄ FHIR), between validation and routing.

None exists yet: a receiver that cannot take a standard gets a refusal. A converter would take the
validated message and the receiver's `accepts` list and return the message the receiver can take
(its own Parsed and body), or None to keep the refusal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edigate.ingest.model import Parsed


class Converter(Protocol):
    def __call__(self, parsed: Parsed, body: bytes, accepts: Sequence[str]) -> tuple[Parsed, bytes] | None: ...


def no_conversion(parsed: Parsed, body: bytes, accepts: Sequence[str]) -> tuple[Parsed, bytes] | None:
    return None
