"""Readable schema errors for INVALID messages only.

lxml says *that* a message is invalid (fast, on the hot path). For a message already known to be invalid,
xmlschema (20–40× slower) explains it: element path, line, and what was expected. When xmlschema cannot
load a schema, lxml's own error log is used. Values of elements that may carry personal data (CPR, names,
addresses, free text) are never repeated in an error message.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lxml import etree

from edigate.medcom.model import ValidationError

MAX_ERRORS = 20
XMLSCHEMA_MAX_BYTES = 512 * 1024  # bigger invalid messages are explained by lxml's log only

# Elements whose value is safe to echo in an error (codes and identifiers, never personal data).
SAFE_VALUE_ELEMENTS = frozenset(
    {
        "VersionCode",
        "StatisticalCode",
        "TypeCode",
        "StatusCode",
        "AcknowledgementCode",
        "Date",
        "Time",
        "Identifier",
        "EANIdentifier",
        "IdentifierCode",
        "OriginalVersionCode",
        "OriginalEnvelopeIdentifier",
        "OriginalLetterIdentifier",
        "RefuseCode",
        "EpisodeOfCareStatusCode",
        "MedicalSpecialityCode",
        "Priority",
    }
)
_NS = re.compile(r"\{[^}]*[:/][^}]*\}")
_CPR = re.compile(r"(?<!\d)\d{6}-?\d{4}(?!\d)")
_QUOTED_VALUE = re.compile(r"(?i)(value\s+)'[^']*'")
_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([A-Za-z_][\w.-]*)'")
_LAST_STEP = re.compile(r"([A-Za-z_][\w.-]*)(?:\[\d+\])?$")


def redact(message: str, element: str | None = None) -> str:
    """Remove namespaces, values of personal elements and anything shaped like a CPR number."""
    if element is None:
        m = _ELEMENT.search(message)
        element = m.group(1) if m else None
    text = _NS.sub("", message)
    if element not in SAFE_VALUE_ELEMENTS:
        text = _QUOTED_VALUE.sub(r"\1(fjernet)", text)
    return _CPR.sub("(fjernet)", text)


def from_lxml_log(log: Iterable[Any], limit: int = MAX_ERRORS) -> tuple[ValidationError, ...]:
    """lxml's schema error log as ValidationErrors (line + XPath-ish path)."""
    out = []
    for entry in log:
        out.append(ValidationError(redact(str(entry.message)), line=entry.line or None, path=entry.path or None))
        if len(out) >= limit:
            break
    return tuple(out)


class Explainer:
    """xmlschema-based explanation, one loaded schema per entry file (loaded lazily, under a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._schemas: dict[Path, Any] = {}
        self._failed: set[Path] = set()

    def load(self, path: Path) -> bool:
        """Load the schema of an entry file now (once), so that the first explanation does not pay for it."""
        return self._schema(path) is not None

    def _schema(self, path: Path) -> Any | None:
        with self._lock:
            if path in self._failed:
                return None
            schema = self._schemas.get(path)
            if schema is None:
                try:
                    import xmlschema  # lazy: ~0.2 s to import, needed only for a refused message's report

                    schema = xmlschema.XMLSchema(str(path), allow="local")
                except Exception:  # any load problem: fall back to lxml's log
                    self._failed.add(path)
                    return None
                self._schemas[path] = schema
            return schema

    def explain(
        self, tree: etree._ElementTree, schema_path: Path, lxml_log: Iterable[Any], size: int
    ) -> tuple[ValidationError, ...]:
        fallback = from_lxml_log(lxml_log)
        schema = self._schema(schema_path) if size <= XMLSCHEMA_MAX_BYTES else None
        if schema is None:
            return fallback
        out: list[ValidationError] = []
        try:
            with self._lock:  # xmlschema validation is not documented as thread-safe
                for err in schema.iter_errors(tree):
                    path = str(err.path) if err.path else None
                    step = _LAST_STEP.search(path or "")
                    reason = str(err.reason or err.message or "invalid")
                    expected = getattr(err, "expected", None)
                    if expected:
                        reason = f"{reason} Forventet: {expected}"
                    out.append(
                        ValidationError(
                            redact(reason, step.group(1) if step else None),
                            line=getattr(err, "sourceline", None) or None,
                            path=_NS.sub("", path) if path else None,
                        )
                    )
                    if len(out) >= MAX_ERRORS:
                        break
        except Exception:
            return fallback
        # xmlschema may disagree with libxml2 in corner cases: the lxml verdict stands, so never return empty.
        return tuple(out) if out else fallback
