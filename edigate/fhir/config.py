"""The `[fhir]` section: where the FHIR packages are and how the validator runs.

    [fhir]
    enabled = true                      # false: FHIR messages are answered 503 (unavailable)
    package_dir = "/var/lib/edigate/fhir-packages"   # <id>-<version>.tgz files (relative: to the config)
    validator_url = "http://127.0.0.1:8711"          # optional: use a running validator instead of starting one
    java = "java"                       # the Java 17 runtime that runs the validator jar
    jar = "validator/target/edigate-fhir-validator.jar"   # relative: to the checkout
    threads = 2                         # validations at once inside the JVM (and requests edigate sends it at once)
    queue_depth = 8                     # FHIR messages that may wait for a busy validator; more: 503 + Retry-After
    timeout_seconds = 30                # one validation, end to end
    start_timeout_seconds = 300         # JVM start + package load + warm-up
    java_options = ["-Xmx1536m"]
    validator_scheduling = "normal"     # the JVM's CPU scheduling policy: normal (default), batch or idle

Self-contained (its own strict pydantic model; `edigate.config.GatewaySettings` includes it as `fhir`).
`configured` is not a key: it says whether the file had a `[fhir]` section at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from edigate.fhir.validation import DEFAULT_QUEUE_DEPTH

REPO = Path(__file__).resolve().parents[2]
DEFAULT_JAR = REPO / "validator" / "target" / "edigate-fhir-validator.jar"


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


class FhirSettings(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    enabled: bool = True
    package_dir: Annotated[Path, Field(strict=False)] | None = None
    validator_url: str | None = None
    java: str = "java"
    jar: Annotated[Path, Field(strict=False)] = DEFAULT_JAR
    threads: Annotated[int, Field(ge=1, le=64)] = 2
    queue_depth: Annotated[int, Field(ge=0, le=10_000)] = DEFAULT_QUEUE_DEPTH
    timeout_seconds: Annotated[float, Field(ge=0.1)] = 30.0
    start_timeout_seconds: Annotated[float, Field(ge=1)] = 300.0
    java_options: tuple[str, ...] = ()
    # SCHED_BATCH / SCHED_IDLE / SCHED_OTHER for the supervised JVM (edigate.fhir.supervisor explains why)
    validator_scheduling: Literal["batch", "idle", "normal"] = "normal"
    configured: bool = Field(default=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _section_present(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            if "configured" in raw:
                raise ValueError("configured: unknown key")
            return {**raw, "configured": True}
        return raw

    @field_validator("java_options", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(o, str) and o.strip() for o in value):
            raise ValueError("must be a list of strings")
        return tuple(o.strip() for o in value)

    @field_validator("java", "validator_url")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return None if value is None else _non_empty(value)

    @field_validator("validator_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("package_dir", mode="before")
    @classmethod
    def _package_dir(cls, value: Any, info: ValidationInfo) -> Any:
        """A relative path is read beside the config file."""
        path = cls._path(value)
        base = Path((info.context or {}).get("base_dir") or Path.cwd())
        return path if path.is_absolute() else (base / path).resolve()

    @field_validator("jar", mode="before")
    @classmethod
    def _jar(cls, value: Any) -> Any:
        """A relative path is read in the checkout (where make builds it)."""
        path = cls._path(value)
        return path if path.is_absolute() else (REPO / path).resolve()

    @staticmethod
    def _path(value: Any) -> Path:
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ValueError("must be a non-empty string")
        return Path(str(value).strip()).expanduser()
