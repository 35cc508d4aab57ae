"""Locating and compiling the MedCom XSDs.

Schemas live in MedCom's own layout under one directory (`2005/08/07/EMessage.xsd`, `1.0.4/EMessage.xsd` …):
the project's own in `<repo>/schemas/medcom` (in `<prefix>/share/edigate/schemas/medcom` when installed from
a wheel), or MedCom's official bundle given by `--schema-dir`, the config or `EDIGATE_SCHEMA_DIR`. Compiled
lxml schemas are cached per thread, because an lxml XMLSchema keeps its error log on the instance and must
not validate in two threads at once.
"""

from __future__ import annotations

import os
import sysconfig
import threading
from pathlib import Path

from lxml import etree

from edigate.medcom.errors import SchemaUnavailable

SCHEMA_DIR_ENV = "EDIGATE_SCHEMA_DIR"


def default_schema_dir() -> Path:
    """`EDIGATE_SCHEMA_DIR` if set, else the project's own schemas."""
    env = os.environ.get(SCHEMA_DIR_ENV)
    if env:
        return Path(env)
    return project_schema_dir()


def project_schema_dir() -> Path:
    """The project's own schemas: beside the package in a checkout, or where a wheel install put them."""
    package = Path(__file__).resolve().parents[1]  # edigate/medcom/schemas.py -> edigate/
    return shipped_schema_dir(package, Path(sysconfig.get_paths()["data"]))


def shipped_schema_dir(package: Path, data_prefix: Path) -> Path:
    """The first of the checkout's `schemas/medcom` and the installed data files that exists; the checkout's
    when neither does, so that an error names the path a developer expects."""
    checkout = package.parent / "schemas" / "medcom"
    installed = data_prefix / "share" / "edigate" / "schemas" / "medcom"
    for candidate in (checkout, installed):
        if (candidate / "2005" / "08" / "07" / "EMessage.xsd").is_file():
            return candidate
    return checkout


# libxml2 breaks (every later compile fails) when a process's first schema compiles run in several threads
# at once; compiling one at a time costs nothing after start-up.
_COMPILE_LOCK = threading.Lock()


class SchemaSet:
    """Compiled schemas of one schema directory. Thread-safe: each thread compiles its own copy once."""

    def __init__(self, schema_dir: Path | None = None) -> None:
        self.schema_dir = Path(schema_dir) if schema_dir is not None else default_schema_dir()
        self._local = threading.local()

    def path(self, entry_file: str) -> Path:
        return self.schema_dir / entry_file

    def get(self, entry_file: str) -> etree.XMLSchema:
        cache: dict[str, etree.XMLSchema] | None = getattr(self._local, "cache", None)
        if cache is None:
            cache = {}
            self._local.cache = cache
        schema = cache.get(entry_file)
        if schema is None:
            schema = self._compile(entry_file)
            cache[entry_file] = schema
        return schema

    def _compile(self, entry_file: str) -> etree.XMLSchema:
        path = self.path(entry_file)
        if not path.is_file():
            raise SchemaUnavailable(f"schema entry file not found: {path}")
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            with _COMPILE_LOCK:
                return etree.XMLSchema(etree.parse(str(path), parser))
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
            raise SchemaUnavailable(f"schema entry file {path} does not compile: {exc}") from None

    def missing(self, entry_files: tuple[str, ...]) -> list[str]:
        """Entry files that are absent or do not compile (for a startup / readiness check)."""
        problems = []
        for entry in entry_files:
            try:
                self.get(entry)
            except SchemaUnavailable as exc:
                problems.append(str(exc))
        return problems
