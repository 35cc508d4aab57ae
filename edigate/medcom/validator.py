"""The verdict on one MedCom message: parse once, validate that tree, read the envelope.

Synchronous and thread-safe; call it through asyncio.to_thread or an executor (lxml releases the GIL).
RefuseCodes decided here: `syntaksfejl` (not well-formed or schema failure) and `problem_med_version`
(unknown message type or VersionCode). The gateway adds `ukendt_lokationsnummer` and `ikke_specificeret`.
"""

from __future__ import annotations

from pathlib import Path

from edigate.medcom import catalogue, safe_xml
from edigate.medcom.envelope import letter_version_code, local_name, read, scan, tag_local_name
from edigate.medcom.envelope_bytes import read_valid
from edigate.medcom.errors import XmlRefused
from edigate.medcom.explain import Explainer
from edigate.medcom.model import ValidationError, ValidationResult, frozen
from edigate.medcom.schemas import SchemaSet

SYNTAKSFEJL = "syntaksfejl"
PROBLEM_MED_VERSION = "problem_med_version"


class Validator:
    """Validates MedCom messages against the schemas in `schema_dir` (default: the project's own)."""

    def __init__(
        self,
        schema_dir: Path | None = None,
        *,
        max_bytes: int = safe_xml.DEFAULT_MAX_BYTES,
        max_depth: int = safe_xml.DEFAULT_MAX_DEPTH,
    ) -> None:
        self.schemas = SchemaSet(schema_dir)
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._explainer = Explainer()

    @property
    def schema_dir(self) -> Path:
        return self.schemas.schema_dir

    def check_schemas(self) -> list[str]:
        """Problems with the entry files the catalogue needs; empty when all compile."""
        return self.schemas.missing(catalogue.schema_files())

    def validate(self, data: bytes) -> ValidationResult:
        """Never raises for bad input; raises SchemaUnavailable only when the operator's schema dir lacks
        the entry file the message needs."""
        try:
            tree = safe_xml.parse(data, max_bytes=self.max_bytes, max_depth=self.max_depth, reencode=True)
        except XmlRefused as exc:
            return ValidationResult(False, SYNTAKSFEJL, (ValidationError(exc.message, exc.line),), None)
        root = tree.getroot()
        root_tag = root.tag
        root_ns = _namespace(root_tag)
        if tag_local_name(root_tag) != "Emessage":
            return _refused(
                PROBLEM_MED_VERSION, catalogue.unsupported_message(root_ns, local_name(root)), root_ns, None
            )
        envelope_el, letters = scan(root)  # one pass over the Emessage's children
        if not letters:
            return ValidationResult(
                False,
                SYNTAKSFEJL,
                (ValidationError("Emessage has no letter after Envelope", root.sourceline),),
                read(root, envelope_el, letters),
                root_ns,
            )
        first = letters[0]
        first_tag = first.tag
        first_ns = _namespace(first_tag)
        first_root = tag_local_name(first_tag)  # a letter root is an element: its name is never empty
        mtype = catalogue.lookup(first_ns, first_root)
        if mtype is None:  # municipality types with an unverified root are found by VersionCode
            mtype = catalogue.lookup(first_ns, first_root, letter_version_code(first))
        if mtype is None:
            return _refused(
                PROBLEM_MED_VERSION,
                catalogue.unsupported_message(first_ns, local_name(first)),
                root_ns,
                read(root, envelope_el, letters),
                line=first.sourceline,
                version_code=letter_version_code(first),
            )
        # Validate before reading: libxml2's validator is measurably slower on a tree Python has walked.
        schema = self.schemas.get(mtype.schema_file)
        schema_valid = bool(schema.validate(tree))
        if schema_valid and len(letters) == 1 and not mtype.is_receipt:  # the usual case, read from the bytes
            envelope = read_valid(data, first, mtype.type_code, root_ns or "")
            if envelope is not None:
                vc = envelope.letters[0].version_code
                if vc is None or vc in mtype.version_codes:
                    return frozen(
                        ValidationResult,
                        {
                            "valid": True,
                            "refuse_code": None,
                            "errors": (),
                            "envelope": envelope,
                            "namespace": root_ns,
                            "message_type": mtype.type_code,
                            "version_code": vc,
                        },
                    )
        envelope = read(root, envelope_el, letters, mtype)
        first_vc = envelope.letters[0].version_code
        for element, letter in zip(letters, envelope.letters, strict=True):
            if element.tag != first_tag:
                other = catalogue.lookup(_namespace(element.tag), letter.root, letter.version_code)
                if other is not mtype:
                    return _refused(
                        PROBLEM_MED_VERSION,
                        f"letters of different types in one Emessage: {letter.root} after {envelope.letters[0].root}",
                        root_ns,
                        envelope,
                        line=element.sourceline,
                        message_type=mtype.type_code,
                        version_code=first_vc,
                    )
            vc = letter.version_code
            if vc is not None and vc not in mtype.version_codes:
                return _refused(
                    PROBLEM_MED_VERSION,
                    f"VersionCode {vc[:20]!r} is not supported for {mtype.type_code} "
                    f"(supported: {', '.join(mtype.version_codes)})",
                    root_ns,
                    envelope,
                    line=element.sourceline,
                    message_type=mtype.type_code,
                    version_code=vc[:20],
                )
        if schema_valid:
            return ValidationResult(True, None, (), envelope, root_ns, mtype.type_code, first_vc)
        errors = self._explainer.explain(tree, self.schemas.path(mtype.schema_file), schema.error_log, len(data))
        return ValidationResult(False, SYNTAKSFEJL, errors, envelope, root_ns, mtype.type_code, first_vc)


def _namespace(tag: object) -> str | None:
    if isinstance(tag, str) and tag[:1] == "{":
        return tag[1 : tag.find("}")]
    return None


def _refused(
    code: str,
    message: str,
    namespace: str | None,
    envelope: object,
    *,
    line: int | None = None,
    message_type: str | None = None,
    version_code: str | None = None,
) -> ValidationResult:
    from edigate.medcom.model import Envelope

    env = envelope if isinstance(envelope, Envelope) else None
    return ValidationResult(False, code, (ValidationError(message, line),), env, namespace, message_type, version_code)
