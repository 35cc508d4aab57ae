"""The FHIR half of `edigate validate`: FHIR message files (JSON or XML, recognised by content) go to the
FHIR validator ([fhir] from the environment or the command's --fhir-* options). One validator serves all
files of the run: an external one (validator_url) or one this command starts and stops (package_dir)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from edigate.config import ConfigError, apply_environment, config_error
from edigate.fhir.config import FhirSettings
from edigate.fhir.factory import AnyFhirValidator, build_fhir_validator
from edigate.fhir.sniff import summarise
from edigate.fhir.standards import BY_EVENT_CODE, standard_for_event
from edigate.fhir.supervisor import SupervisedFhirValidator
from edigate.fhir.validation import FhirValidatorUnavailable


def fhir_settings(package_dir: Path | None, validator_url: str | None, environ: Mapping[str, str]) -> FhirSettings:
    """[fhir] from EDIGATE_FHIR__* and the options (options win); ConfigError naming the key."""
    raw: dict[str, Any] = {}
    apply_environment(raw, environ)
    section = dict(raw.get("fhir") or {})
    if package_dir is not None:
        section["package_dir"] = str(package_dir)
    if validator_url is not None:
        section["validator_url"] = validator_url
    if not section:
        return FhirSettings.model_construct()
    try:
        return FhirSettings.model_validate(section, context={"base_dir": Path.cwd()})
    except ValidationError as exc:
        raise ConfigError(f"fhir.{config_error(exc)}") from None


class FhirChecker:
    """Validates FHIR files one by one on one event loop; the validator starts on the first FHIR file."""

    def __init__(self, settings: FhirSettings) -> None:
        self.settings = settings
        self._runner = asyncio.Runner()
        self._validator: AnyFhirValidator | None = None
        self._unavailable: str | None = None

    def _ensure(self) -> AnyFhirValidator | None:
        if self._validator is not None or self._unavailable is not None:
            return self._validator
        if not self.settings.configured:
            self._unavailable = (
                "FHIR validation is not configured: give --fhir-packages DIR (the MedCom FHIR packages) or "
                "--fhir-validator-url URL, or set EDIGATE_FHIR__PACKAGE_DIR / EDIGATE_FHIR__VALIDATOR_URL"
            )
            return None
        validator = build_fhir_validator(self.settings)
        if isinstance(validator, SupervisedFhirValidator):
            print("edigate validate: starting the FHIR validator (Java; 30-90 s) ...", file=sys.stderr)
            self._runner.run(validator.start())
            if not self._runner.run(validator.wait_ready(self.settings.start_timeout_seconds)):
                self._unavailable = validator.status()[1]
                self._runner.run(validator.stop())
                return None
        self._validator = validator
        return validator

    def check(self, name: str, data: bytes, media_type: str) -> tuple[dict[str, Any], bool]:
        """(JSON object, setup error?) for one FHIR file."""
        try:
            summary = summarise(data, media_type)
        except ValueError as exc:
            return fhir_json(name, media_type, None, None, [error(str(exc))]), False
        standard = standard_for_event(summary.event_system, summary.event_code)
        base = {"bundle_id": summary.bundle_id, "message_header_id": summary.message_header_id}
        if standard is None:
            what = f"MessageHeader.eventCoding {summary.event_code or '(none)'}"
            known = ", ".join(BY_EVENT_CODE)
            return fhir_json(
                name, media_type, None, None, [error(f"{what} is not a standard edigate takes ({known})")], **base
            ), False
        validator = self._ensure()
        if validator is None:
            return self._unavailable_json(name, media_type, standard.name, self._unavailable or "", base), True
        try:
            result = self._runner.run(validator.validate(standard.name, data, media_type))
        except FhirValidatorUnavailable as exc:
            return self._unavailable_json(name, media_type, standard.name, exc.reason, base), True
        errors = [error(i.diagnostics, "; ".join(i.expression) or None, i.severity) for i in result.errors]
        obj = fhir_json(name, media_type, standard.name, result.operation_outcome(), errors, **base)
        obj["valid"] = result.valid
        obj["warnings"] = [
            error(i.diagnostics, "; ".join(i.expression) or None, i.severity)
            for i in result.issues
            if i.severity == "warning"
        ]
        return obj, False

    @staticmethod
    def _unavailable_json(
        name: str, media_type: str, standard: str, reason: str, base: dict[str, Any]
    ) -> dict[str, Any]:
        obj = fhir_json(name, media_type, standard, None, [error(reason)], **base)
        obj["unavailable"] = True
        return obj

    def close(self) -> None:
        if self._validator is not None:
            self._runner.run(self._validator.stop())
        self._runner.close()


def error(message: str, path: str | None = None, severity: str = "error") -> dict[str, Any]:
    return {"message": message, "line": None, "path": path, "severity": severity}


def fhir_json(
    file: str,
    media_type: str,
    standard: str | None,
    outcome: dict[str, Any] | None,
    errors: list[dict[str, Any]],
    bundle_id: str | None = None,
    message_header_id: str | None = None,
) -> dict[str, Any]:
    return {
        "file": file,
        "valid": False,
        "format": "fhir",
        "media_type": media_type,
        "type": standard,
        "bundle_id": bundle_id,
        "message_header_id": message_header_id,
        "errors": errors,
        "warnings": [],
        "operation_outcome": outcome,
    }


def fhir_human(obj: dict[str, Any]) -> str:
    ids = f" bundle {obj['bundle_id']}" if obj["bundle_id"] else ""
    if obj["valid"]:
        lines = [f"{obj['file']}: valid {obj['type']} (FHIR){ids}"]
    elif obj.get("unavailable"):
        lines = [f"{obj['file']}: NOT VALIDATED {obj['type']}{ids}"]
    else:
        lines = [f"{obj['file']}: INVALID {obj['type'] or 'FHIR message'}{ids}"]
    for item in obj["errors"] + obj["warnings"]:
        where = f" [{item['path']}]" if item.get("path") else ""
        lines.append(f"  {item['severity']}: {item['message']}{where}")
    return "\n".join(lines)
