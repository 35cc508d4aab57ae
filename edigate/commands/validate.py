"""`edigate validate [--json] [--schema-dir DIR] [--fhir-packages DIR | --fhir-validator-url URL] PATH...`:
the verdict on MedCom XML files and MedCom FHIR messages (JSON or XML, recognised by content; validated
by the HL7 reference validator, see edigate.commands.fhir_check).

Exit 0 when all are valid, 1 when any is invalid, 2 on a usage or I/O error or when FHIR validation is
unavailable. Never prints a CPR number: only envelope ids, types, EANs and schema errors (whose values of
personal elements are redacted); FHIR diagnostics pass the client's CPR scrub.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from edigate.commands.fhir_check import FhirChecker, fhir_human, fhir_settings
from edigate.config import ConfigError
from edigate.fhir.sniff import fhir_media_type
from edigate.medcom import SchemaUnavailable, ValidationResult, Validator
from edigate.medcom.schemas import default_schema_dir

PROGRESS_THRESHOLD = 20


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="validate MedCom XML files and MedCom FHIR messages",
        description="Validate MedCom XML messages and MedCom FHIR messages (files, or directories walked for "
        "*.xml and *.json).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="file or directory")
    parser.add_argument("--json", action="store_true", help="print one JSON array, an object per file")
    parser.add_argument(
        "--schema-dir",
        type=Path,
        default=None,
        help="schema directory in MedCom's layout (default: $EDIGATE_SCHEMA_DIR or the project's schemas)",
    )
    parser.add_argument(
        "--fhir-packages",
        type=Path,
        default=None,
        help="folder of MedCom FHIR packages (<id>-<version>.tgz); starts the FHIR validator (Java) for FHIR files",
    )
    parser.add_argument(
        "--fhir-validator-url", default=None, help="use a running FHIR validator (edigate-fhir-validator) instead"
    )
    parser.add_argument("--max-bytes", type=int, default=5 * 1024 * 1024, help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def collect(paths: list[str]) -> list[tuple[str, Path | None]]:
    """Files to check in argument order (directories walked for *.xml and *.json, sorted); None marks a
    missing path."""
    out: list[tuple[str, Path | None]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = [*path.rglob("*.xml"), *(p for p in path.rglob("*.json") if _is_fhir_file(p))]
            out.extend((str(p), p) for p in sorted(found) if p.is_file())
        elif path.is_file():
            out.append((raw, path))
        else:
            out.append((raw, None))
    return out


def _is_fhir_file(path: Path) -> bool:
    """A JSON file met in a directory walk counts when it is a FHIR Bundle (not e.g. a package.json)."""
    try:
        with path.open("rb") as f:
            return fhir_media_type(f.read(65536)) is not None
    except OSError:
        return True  # reported as unreadable


def to_json(file: str, result: ValidationResult | None, errors: list[dict[str, Any]]) -> dict[str, Any]:
    env = result.envelope if result else None
    return {
        "file": file,
        "valid": bool(result and result.valid),
        "type": result.message_type if result else None,
        "version_code": result.version_code if result else None,
        "namespace": result.namespace if result else None,
        "envelope_id": env.id if env else None,
        "letters": [{"id": lt.id, "type": lt.type, "version_code": lt.version_code} for lt in env.letters]
        if env
        else [],
        "sender_ean": env.sender.ean if env else None,
        "receiver_ean": env.receiver.ean if env else None,
        "ack_requested": env.ack_requested if env else None,
        "refuse_code": result.refuse_code if result else None,
        "errors": errors or [_error(e.message, e.line, e.path) for e in (result.errors if result else ())],
    }


def _error(message: str, line: int | None = None, path: str | None = None) -> dict[str, Any]:
    return {"message": message, "line": line, "path": path}


def human(obj: dict[str, Any]) -> str:
    if obj["valid"]:
        head = f"{obj['file']}: valid {obj['type']} {obj['version_code']} envelope {obj['envelope_id']}"
    else:
        what = obj["type"] or "?"
        head = f"{obj['file']}: INVALID ({obj['refuse_code'] or 'error'}) {what}"
        if obj["envelope_id"]:
            head += f" envelope {obj['envelope_id']}"
    lines = [head]
    for err in obj["errors"]:
        where = f"line {err['line']}: " if err.get("line") else ""
        path = f" [{err['path']}]" if err.get("path") else ""
        lines.append(f"  {where}{err['message']}{path}")
    return "\n".join(lines)


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _check(validator: Validator, fhir: FhirChecker, name: str, path: Path | None) -> tuple[dict[str, Any], bool]:
    """(JSON object, I/O-or-setup error?) for one input."""
    if path is None:
        return to_json(name, None, [_error("no such file or directory")]), True
    try:
        data = path.read_bytes()
    except OSError as exc:
        return to_json(name, None, [_error(f"cannot read: {exc.strerror or type(exc).__name__}")]), True
    media_type = fhir_media_type(data)
    if media_type is not None:
        return fhir.check(name, data, media_type)
    try:
        return to_json(name, validator.validate(data), []), False
    except SchemaUnavailable as exc:
        return to_json(name, None, [_error(str(exc))]), True


def run(args: argparse.Namespace) -> int:
    inputs = collect(args.paths)
    schema_dir = args.schema_dir or default_schema_dir()
    if args.schema_dir is not None and not schema_dir.is_dir():
        print(f"edigate validate: schema directory not found: {schema_dir}", file=sys.stderr)
        return 2
    try:
        fhir = FhirChecker(fhir_settings(args.fhir_packages, args.fhir_validator_url, os.environ))
    except ConfigError as exc:
        print(f"edigate validate: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(args, inputs, schema_dir, fhir)
    finally:
        fhir.close()


def _run(args: argparse.Namespace, inputs: list[tuple[str, Path | None]], schema_dir: Path, fhir: FhirChecker) -> int:
    validator = Validator(schema_dir, max_bytes=args.max_bytes)
    objects: list[dict[str, Any]] = []
    io_error = any_invalid = False
    show_progress = sys.stderr.isatty() and len(inputs) >= PROGRESS_THRESHOLD
    try:
        for n, (name, path) in enumerate(inputs, 1):
            obj, failed = _check(validator, fhir, name, path)
            io_error = io_error or failed
            any_invalid = any_invalid or not obj["valid"]
            objects.append(obj)
            if failed:
                print(f"edigate validate: {name}: {obj['errors'][0]['message']}", file=sys.stderr)
            if not args.json:
                print(fhir_human(obj) if obj.get("format") == "fhir" else human(obj))
            if show_progress:
                _progress(n, len(inputs))
        if args.json:
            json.dump(objects, sys.stdout, ensure_ascii=False, indent=1)
            sys.stdout.write("\n")
        elif not objects:
            print("edigate validate: no *.xml or *.json files found", file=sys.stderr)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        sys.stderr.close()
        return 1 if not io_error else 2
    if io_error:
        return 2
    return 1 if any_invalid else 0
