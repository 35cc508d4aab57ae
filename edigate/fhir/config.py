"""The `[fhir]` section: where the FHIR packages are and how the validator runs.

    [fhir]
    enabled = true                      # false: FHIR messages are answered 503 (unavailable)
    package_dir = "/var/lib/edigate/fhir-packages"   # <id>-<version>.tgz files (relative: to the config)
    validator_url = "http://127.0.0.1:8711"          # optional: use a running validator instead of starting one
    java = "java"                       # the Java 17 runtime that runs the validator jar
    jar = "validator/target/edigate-fhir-validator.jar"
    threads = 2                         # validations at once inside the JVM
    timeout_seconds = 30                # one validation, end to end
    start_timeout_seconds = 300         # JVM start + package load + warm-up
    java_options = ["-Xmx1g"]

Self-contained on purpose (config.py is being moved to typed settings): `parse_fhir_settings(raw, base_dir)`
returns FhirSettings or raises ConfigError naming `fhir.<key>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edigate.fhir.supervisor import DEFAULT_JAR, REPO

KNOWN_KEYS = {
    "enabled",
    "package_dir",
    "validator_url",
    "java",
    "jar",
    "threads",
    "timeout_seconds",
    "start_timeout_seconds",
    "java_options",
}


@dataclass(frozen=True)
class FhirSettings:
    enabled: bool = True
    package_dir: Path | None = None
    validator_url: str | None = None
    java: str = "java"
    jar: Path = DEFAULT_JAR
    threads: int = 2
    timeout_seconds: float = 30.0
    start_timeout_seconds: float = 300.0
    java_options: tuple[str, ...] = field(default_factory=tuple)
    configured: bool = False  # the config has a [fhir] section


def parse_fhir_settings(raw: Any, base_dir: Path) -> FhirSettings:
    from edigate.config import ConfigError  # here: edigate.config imports this module while parsing

    if raw is None:
        return FhirSettings()
    if not isinstance(raw, dict):
        raise ConfigError("fhir: must be a table")
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"fhir.{unknown[0]}: unknown key (known: {', '.join(sorted(KNOWN_KEYS))})")

    def text(name: str) -> str | None:
        if name not in raw:
            return None
        value = raw[name]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"fhir.{name}: must be a non-empty string")
        return value.strip()

    def number(name: str, default: float, minimum: float) -> float:
        value = raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ConfigError(f"fhir.{name}: must be a number of at least {minimum:g}")
        return float(value)

    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError("fhir.enabled: must be true or false")
    threads = raw.get("threads", 2)
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 64:
        raise ConfigError("fhir.threads: must be an integer from 1 to 64")
    url = text("validator_url")
    if url is not None and not url.startswith(("http://", "https://")):
        raise ConfigError("fhir.validator_url: must be an http:// or https:// URL")
    options = raw.get("java_options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) and o.strip() for o in options):
        raise ConfigError("fhir.java_options: must be a list of strings")
    package_dir = text("package_dir")
    jar = text("jar")
    return FhirSettings(
        enabled=enabled,
        package_dir=_path(package_dir, base_dir) if package_dir else None,
        validator_url=url,
        java=text("java") or "java",
        jar=_path(jar, REPO) if jar else DEFAULT_JAR,
        threads=threads,
        timeout_seconds=number("timeout_seconds", 30.0, 0.1),
        start_timeout_seconds=number("start_timeout_seconds", 300.0, 1.0),
        java_options=tuple(o.strip() for o in options),
        configured=True,
    )


def _path(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()
