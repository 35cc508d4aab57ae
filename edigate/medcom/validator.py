"""The verdict on one MedCom message: parse once, validate that tree, read the envelope.

Synchronous and thread-safe; call it through asyncio.to_thread or an executor (lxml releases the GIL).
RefuseCodes decided here: `syntaksfejl` (not well-formed or schema failure) and `problem_med_version`
(unknown message type or VersionCode). The gateway adds `ukendt_lokationsnummer` and `ikke_specificeret`.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from edigate.medcom import catalogue, safe_xml
from edigate.medcom.catalogue import MessageType
from edigate.medcom.envelope import letter_version_code, local_name, read, scan, tag_local_name
from edigate.medcom.envelope_bytes import Head, read_head
from edigate.medcom.errors import XmlRefused
from edigate.medcom.explain import Explainer, from_lxml_log
from edigate.medcom.ids import identifier_problem
from edigate.medcom.model import Envelope, ValidationError, ValidationResult, frozen
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

    def validate(self, data: bytes, *, explain: bool = True) -> ValidationResult:
        """Never raises for bad input; raises SchemaUnavailable only when the operator's schema dir lacks
        the entry file the message needs.

        With `explain=False` a schema failure carries lxml's error log and `explain_schema` instead of the
        readable xmlschema report, which costs 50-100x the validation itself: the service builds that
        report in a bounded worker process (edigate.medcom.explain_pool), never on its event loop."""
        try:
            root = safe_xml.parse_root(data, self.max_bytes, self.max_depth, True)
        except XmlRefused as exc:
            return ValidationResult(False, SYNTAKSFEJL, (ValidationError(exc.message, exc.line),), None)
        head = read_head(data)
        schema_valid: bool | None = None
        if head is not None:  # the usual case: a plain single-letter message, read from its bytes
            namespace, mtype, letter_root = _KINDS.get(head.kind) or _kind(head, root)
            if mtype is not None and not mtype.is_receipt and len(root) == 2:
                vc = head.version_code
                if vc is None or vc in mtype.version_codes:
                    schema_valid = bool(self.schemas.get(mtype.schema_file).validate(root))
                    if schema_valid:
                        envelope = head.envelope(data, root, mtype.type_code, letter_root, namespace or "")
                        if (problem := identifier_problem(envelope)) is not None:
                            return _refused(
                                SYNTAKSFEJL,
                                problem,
                                namespace,
                                envelope,
                                message_type=mtype.type_code,
                                version_code=vc,
                            )
                        return frozen(
                            ValidationResult,
                            {
                                "valid": True,
                                "refuse_code": None,
                                "errors": (),
                                "envelope": envelope,
                                "namespace": namespace,
                                "message_type": mtype.type_code,
                                "version_code": vc,
                                "explain_schema": None,
                            },
                        )
        return self._read_tree(data, root, schema_valid, explain)

    def _read_tree(
        self, data: bytes, root: etree._Element, schema_valid: bool | None, explain: bool = True
    ) -> ValidationResult:
        """The verdict from the tree: every message the byte reader does not take, invalid ones included."""
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
                (ValidationError("Emessage har intet brev efter Envelope", root.sourceline),),
                read(root, envelope_el, letters),
                root_ns,
            )
        first = letters[0]
        first_tag = first.tag
        mtype = _letter_type(first)
        if mtype is None:
            return _refused(
                PROBLEM_MED_VERSION,
                catalogue.unsupported_message(_namespace(first_tag), local_name(first)),
                root_ns,
                read(root, envelope_el, letters),
                line=first.sourceline,
                version_code=letter_version_code(first),
            )
        schema = self.schemas.get(mtype.schema_file)
        if schema_valid is None:
            schema_valid = bool(schema.validate(root))
        envelope = read(root, envelope_el, letters, mtype)
        first_vc = envelope.letters[0].version_code
        for element, letter in zip(letters, envelope.letters, strict=True):
            if element.tag != first_tag:
                other = catalogue.lookup(_namespace(element.tag), letter.root, letter.version_code)
                if other is not mtype:
                    return _refused(
                        PROBLEM_MED_VERSION,
                        f"breve af forskellige typer i én Emessage: {letter.root} efter {envelope.letters[0].root}",
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
                    f"VersionCode {vc[:20]!r} understøttes ikke for {mtype.type_code} "
                    f"(understøttet: {', '.join(mtype.version_codes)})",
                    root_ns,
                    envelope,
                    line=element.sourceline,
                    message_type=mtype.type_code,
                    version_code=vc[:20],
                )
        if schema_valid:
            if (problem := identifier_problem(envelope)) is not None:
                # Text14 allows line breaks and control characters; such an id cannot travel (issue 10)
                return _refused(
                    SYNTAKSFEJL, problem, root_ns, envelope, message_type=mtype.type_code, version_code=first_vc
                )
            return ValidationResult(True, None, (), envelope, root_ns, mtype.type_code, first_vc)
        if not explain:
            errors = from_lxml_log(schema.error_log)
            return ValidationResult(
                False, SYNTAKSFEJL, errors, envelope, root_ns, mtype.type_code, first_vc, mtype.schema_file
            )
        errors = self._explainer.explain(
            root.getroottree(), self.schemas.path(mtype.schema_file), schema.error_log, len(data)
        )
        return ValidationResult(False, SYNTAKSFEJL, errors, envelope, root_ns, mtype.type_code, first_vc)


# Head.kind -> (Emessage namespace, letter type, letter root name), learnt from the tree once per kind.
_KINDS: dict[tuple[str, str, str], tuple[str | None, MessageType | None, str]] = {}
_KINDS_MAX = 256


def _kind(head: Head, root: etree._Element) -> tuple[str | None, MessageType | None, str]:
    """What a head's kind means, read from the tree the first time it is seen."""
    kind: tuple[str | None, MessageType | None, str] = (None, None, "")
    if tag_local_name(root.tag) == "Emessage":
        letters = scan(root)[1]
        if letters:
            kind = (_namespace(root.tag), _letter_type(letters[0]), tag_local_name(letters[0].tag))
    if len(_KINDS) >= _KINDS_MAX:
        _KINDS.clear()
    _KINDS[head.kind] = kind
    return kind


def _letter_type(letter_root: etree._Element) -> MessageType | None:
    """The catalogue type of a letter root; municipality types with an unverified root by VersionCode."""
    ns, name = _namespace(letter_root.tag), tag_local_name(letter_root.tag)
    return catalogue.lookup(ns, name) or catalogue.lookup(ns, name, letter_version_code(letter_root))


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
    env = envelope if isinstance(envelope, Envelope) else None
    return ValidationResult(False, code, (ValidationError(message, line),), env, namespace, message_type, version_code)
