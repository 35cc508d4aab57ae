"""MedCom message core: safe parsing, the message catalogue, schema validation, envelope model, receipts.

Pure: knows XML, nothing of HTTP, storage or mail.
"""

from edigate.medcom.catalogue import (
    CATALOGUE,
    MessageType,
    all_types,
    by_type_code,
    by_version_code,
    lookup,
)
from edigate.medcom.envelope import extract as extract_envelope
from edigate.medcom.errors import MedcomError, SchemaUnavailable, XmlRefused
from edigate.medcom.ids import is_valid_identifier, new_identifier
from edigate.medcom.model import (
    REFUSE_CODES,
    Envelope,
    Letter,
    OriginalLetterRef,
    Party,
    ReceiptContent,
    ValidationError,
    ValidationResult,
)
from edigate.medcom.receipts import (
    OriginalMessage,
    build_negative_receipt,
    build_positive_receipt,
    clean_refuse_text,
)
from edigate.medcom.safe_xml import parse
from edigate.medcom.schemas import default_schema_dir
from edigate.medcom.validator import Validator

__all__ = [
    "CATALOGUE",
    "REFUSE_CODES",
    "Envelope",
    "Letter",
    "MedcomError",
    "MessageType",
    "OriginalLetterRef",
    "OriginalMessage",
    "Party",
    "ReceiptContent",
    "SchemaUnavailable",
    "ValidationError",
    "ValidationResult",
    "Validator",
    "XmlRefused",
    "all_types",
    "build_negative_receipt",
    "build_positive_receipt",
    "by_type_code",
    "by_version_code",
    "clean_refuse_text",
    "default_schema_dir",
    "extract_envelope",
    "is_valid_identifier",
    "lookup",
    "new_identifier",
    "parse",
]
