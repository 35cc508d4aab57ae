"""The gateway's sections of the TOML config as typed, validated, frozen pydantic models.

`edigate.settings` reads the file, applies the environment and validates everything at once (the gateway's
sections here plus notify's `[notify]`); a bad value becomes one :class:`ConfigError` line naming the key.
Each part of the gateway is handed its own section (`ServerSettings`, `HealthSettings`, …), never a dict.

Any key can be overridden from the environment as `EDIGATE_<SECTION>__<KEY>` (nested tables add more
`__` parts, e.g. `EDIGATE_NOTIFY__MAIL__PORT`). The value is read as a TOML value when it parses as one
(`42`, `true`, `["a"]`), otherwise as a plain string.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from edigate.fhir.config import FhirSettings
from edigate.health import HealthThresholds
from edigate.logging import LOG_LEVELS
from edigate.mailaddr import mail_address
from edigate.medcom.ean import is_valid_ean
from edigate.medcom.schemas import project_schema_dir

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMA_DIR = project_schema_dir()
ENV_PREFIX = "EDIGATE_"
PARTNER_KINDS = ("hospital", "municipality", "gp", "region")
DELIVERY_KINDS = ("http", "mailbox", "directory")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    """A bad configuration; the message starts with the key, e.g. `partners[3].ean: not a valid EAN/GLN …`."""


# ---------------------------------------------------------------------------------------------- value types


class Table(BaseModel):
    """A TOML table: no unknown keys, no silent coercion ("25" is not a port), immutable once read."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# Config errors are for the operator and all in English (the API's and receipts' text is medcom.ean.INVALID_EAN)
CONFIG_INVALID_EAN = "not a valid EAN/GLN (13 digits with GS1 check digit)"


def _ean(value: str) -> str:
    if not is_valid_ean(value):  # never quoted: a CPR typed into the field must not reach a log
        raise ValueError(CONFIG_INVALID_EAN)
    return value


def _sha256(value: str) -> str:
    if not _SHA256.match(value.lower()):
        raise ValueError("must be 64 hex digits (sha256 of the token)")
    return value.lower()


def _one_or_many(value: Any) -> Any:
    """`"a"` or `["a", "b"]` -> a tuple; anything else is left for the type check to refuse."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(value)
    return value


def _array_of_tables(value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise ValueError("must be an array of tables ([[…]])")
    return tuple(value)


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value.strip()


Text = Annotated[str, AfterValidator(_text)]
Ean = Annotated[str, AfterValidator(_ean)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
Texts = Annotated[tuple[Text, ...], BeforeValidator(_one_or_many)]
Tokens = Annotated[tuple[Sha256, ...], BeforeValidator(_one_or_many)]
MailAddresses = Annotated[
    tuple[Annotated[str, AfterValidator(mail_address)], ...],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Count = Annotated[int, Field(ge=0)]


# ---------------------------------------------------------------------------------------------- sections


class ServerSettings(Table):
    listen: str = "127.0.0.1:8080"
    max_body_bytes: Annotated[int, Field(ge=1024)] = 5 * 1024 * 1024
    shutdown_timeout_seconds: NonNegative = 10.0
    body_read_timeout_seconds: Annotated[float, Field(ge=0.1)] = 30.0  # slow-drip body: 408 (edigate.web.limits)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, text: str) -> str:
        _host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not (0 < int(port) < 65536):
            raise ValueError(f"must be host:port, got {text!r}")
        return text

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class StorageSettings(Table):
    url: Text = "sqlite:///var/edigate.db"
    group_commit_max: Annotated[int, Field(ge=1)] = 256  # flush the ingest batch when this many callers wait …
    group_commit_wait_ms: NonNegative = 2.0  # … or after this long

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        schemes = ("sqlite:///", "postgresql://", "postgres://", "sqlite+aiosqlite://", "postgresql+asyncpg://")
        if not url.startswith(schemes):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return url


class MedcomSettings(Table):
    schema_dir: Annotated[Path, Field(strict=False)] = DEFAULT_SCHEMA_DIR
    gateway_ean: Ean | None = None

    @field_validator("schema_dir")
    @classmethod
    def _beside_the_config(cls, path: Path, info: ValidationInfo) -> Path:
        """A relative path is read beside the config file, else in the checkout."""
        if path.is_absolute():
            return path
        base = Path((info.context or {}).get("base_dir") or Path.cwd())
        return (base / path) if (base / path).exists() else (REPO / path)


Minutes = NonNegative
DeliveryCount = Annotated[int, Field(ge=1)]


class DeliverySettings(Table):
    max_attempts: DeliveryCount = 50
    max_age_minutes: NonNegative = 2 * 24 * 60
    backoff_base_seconds: NonNegative = 1.0
    backoff_max_seconds: NonNegative = 300.0
    circuit_failure_threshold: DeliveryCount = 5
    circuit_open_seconds: NonNegative = 30.0
    http_timeout_seconds: NonNegative = 10.0
    mailbox_lease_seconds: NonNegative = 300.0
    worker_lease_seconds: NonNegative = 30.0
    batch_size: DeliveryCount = 100
    poll_interval_seconds: NonNegative = 1.0
    ack_timeout_minutes: NonNegative = 30.0
    ack_alert_minutes: NonNegative = 90.0
    ack_sweep_interval_seconds: NonNegative = 30.0

    @model_validator(mode="after")
    def _alert_after_timeout(self) -> DeliverySettings:
        if self.ack_alert_minutes < self.ack_timeout_minutes:
            raise ValueError("ack_alert_minutes: must not be less than delivery.ack_timeout_minutes")
        return self


class DeliveryTarget(Table):
    kind: Literal["http", "mailbox", "directory"]
    url: Text | None = None
    path: Annotated[Path, Field(strict=False)] | None = None

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        return path if path.is_absolute() else Path.cwd() / path  # like storage.url: from the working directory

    @model_validator(mode="after")
    def _what_the_kind_needs(self) -> DeliveryTarget:
        if self.kind == "http":
            if self.url is None:
                raise ValueError("url: is required")
            if not self.url.startswith(("http://", "https://")):
                raise ValueError("url: must be an http:// or https:// URL")
        elif self.kind == "directory" and self.path is None:
            raise ValueError("path: is required")
        return self


class Partner(Table):
    ean: Ean
    name: Text
    kind: Literal["hospital", "municipality", "gp", "region"]
    clusters: Texts = ()  # written `cluster` or `clusters`, one name or a list
    tokens_sha256: Tokens = ()
    mailbox: Annotated[Text, AfterValidator(mail_address)] | None = None
    delivery: DeliveryTarget = DeliveryTarget(kind="mailbox")
    accepts: Texts | None = None  # type codes or VersionCodes; None = everything

    @model_validator(mode="before")
    @classmethod
    def _cluster_is_clusters(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cluster" in data:
            rest = {k: v for k, v in data.items() if k != "cluster"}
            if data["cluster"] or "clusters" not in rest:
                rest["clusters"] = data["cluster"]
            return rest
        return data


class Client(Table):
    """A sending system (e.g. the region's integration engine) that speaks for several EANs."""

    name: Text
    tokens_sha256: Tokens = ()
    eans: Annotated[tuple[Ean, ...], BeforeValidator(_one_or_many)]


class Admin(Table):
    name: Text
    tokens_sha256: Tokens = ()


_TH = HealthThresholds()


def _minutes(d: timedelta) -> float:
    return d.total_seconds() / 60


class HealthSettings(Table):
    """`[health]`: the loop's own keys and the :class:`HealthThresholds` (durations in minutes)."""

    interval_seconds: Positive = 5.0
    auto_confirm: bool = False
    receipt_window_minutes: Positive = 60.0
    down_unreachable_minutes: Minutes = _minutes(_TH.down_unreachable)
    down_oldest_pending_minutes: Minutes = _minutes(_TH.down_oldest_pending)
    down_receipts_overdue: Count | None = _TH.down_receipts_overdue  # 0 or absent: never down for this alone
    degraded_unreachable_minutes: Minutes = _minutes(_TH.degraded_unreachable)
    degraded_oldest_pending_minutes: Minutes = _minutes(_TH.degraded_oldest_pending)
    degraded_consecutive_failures: Count = _TH.degraded_consecutive_failures
    degraded_receipts_overdue: Count = _TH.degraded_receipts_overdue
    degraded_refusal_rate: Annotated[float, Field(ge=0, le=1)] = _TH.degraded_refusal_rate
    refusal_min_receipts: Count = _TH.refusal_min_receipts
    recovery_hold_minutes: Minutes = _minutes(_TH.recovery_hold)
    receiver_min_routes: Count = _TH.receiver_min_routes

    @model_validator(mode="after")
    def _degraded_before_down(self) -> HealthSettings:
        if self.degraded_unreachable_minutes > self.down_unreachable_minutes:
            raise ValueError("degraded_unreachable_minutes: must not exceed down_unreachable_minutes")
        if self.degraded_oldest_pending_minutes > self.down_oldest_pending_minutes:
            raise ValueError("degraded_oldest_pending_minutes: must not exceed down_oldest_pending_minutes")
        return self

    @property
    def receipt_window(self) -> timedelta:
        return timedelta(minutes=self.receipt_window_minutes)

    def thresholds(self) -> HealthThresholds:
        return HealthThresholds(
            down_unreachable=timedelta(minutes=self.down_unreachable_minutes),
            down_oldest_pending=timedelta(minutes=self.down_oldest_pending_minutes),
            down_receipts_overdue=self.down_receipts_overdue or None,
            degraded_unreachable=timedelta(minutes=self.degraded_unreachable_minutes),
            degraded_oldest_pending=timedelta(minutes=self.degraded_oldest_pending_minutes),
            degraded_consecutive_failures=self.degraded_consecutive_failures,
            degraded_receipts_overdue=self.degraded_receipts_overdue,
            degraded_refusal_rate=self.degraded_refusal_rate,
            refusal_min_receipts=self.refusal_min_receipts,
            recovery_hold=timedelta(minutes=self.recovery_hold_minutes),
            receiver_min_routes=self.receiver_min_routes,
        )


class AlertsSettings(Table):
    """`[alerts]`: the on-call alert mails. Without `edi_support`/`on_call` here, notify's
    `edi_support_email`/`on_call_email` are used; with neither, no alert mails."""

    edi_support: MailAddresses | None = None
    on_call: MailAddresses | None = None
    repeat_interval_minutes: Positive = 60.0
    max_reminders: Count = 3  # 0 = no reminders
    alert_on_degraded: bool = False
    subject_prefix: str = "[edigate]"


class LoggingSettings(Table):
    level: str = "info"

    @field_validator("level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.lower() not in LOG_LEVELS:
            raise ValueError(f"unknown level {level!r}; use one of {sorted(LOG_LEVELS)}")
        return level.lower()


class MetricsSettings(Table):
    enabled: bool = True  # false: no recording, /metrics answers 404


class RetentionSettings(Table):
    body_days: Annotated[int, Field(ge=1)] = 30  # a final message's body is purged this many days after
    interval_minutes: Positive = 60.0  # how often the running service purges


class GatewaySettings(Table):
    """Every section of the gateway; `edigate.settings.Settings` adds notify's."""

    server: ServerSettings = ServerSettings()
    storage: StorageSettings = StorageSettings()
    medcom: MedcomSettings = MedcomSettings()
    delivery: DeliverySettings = DeliverySettings()
    partners: Annotated[tuple[Partner, ...], BeforeValidator(_array_of_tables)] = ()
    clients: Annotated[tuple[Client, ...], BeforeValidator(_array_of_tables)] = ()
    admins: Annotated[tuple[Admin, ...], BeforeValidator(_array_of_tables)] = ()
    health: HealthSettings = HealthSettings()
    alerts: AlertsSettings = AlertsSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    retention: RetentionSettings = RetentionSettings()
    fhir: FhirSettings = FhirSettings.model_construct()  # [fhir] absent: not configured (edigate.fhir.config)

    @model_validator(mode="after")
    def _cross_references(self) -> GatewaySettings:
        seen: dict[str, int] = {}
        for i, p in enumerate(self.partners):
            if p.ean in seen:
                raise ValueError(f"partners[{i}].ean: {p.ean} is already used by partners[{seen[p.ean]}]")
            seen[p.ean] = i
        for i, c in enumerate(self.clients):
            for j, e in enumerate(c.eans):
                if e not in seen:
                    raise ValueError(f"clients[{i}].eans[{j}]: {e} is not a configured partner EAN")
        owners: dict[str, str] = {}
        groups: list[tuple[str, tuple[str, ...]]] = (
            [(f"partners[{i}]", p.tokens_sha256) for i, p in enumerate(self.partners)]
            + [(f"clients[{i}]", c.tokens_sha256) for i, c in enumerate(self.clients)]
            + [(f"admins[{i}]", a.tokens_sha256) for i, a in enumerate(self.admins)]
        )
        for where, tokens in groups:
            for t in tokens:
                if t in owners and owners[t] != where:
                    raise ValueError(f"{where}.tokens_sha256: a token is shared with {owners[t]}")
                owners[t] = where
        return self


# ---------------------------------------------------------------------------------------------- reading


def read_toml(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--config: file not found: {p}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None


def apply_environment(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(parts):
            continue
        node = raw
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = _env_value(value)


def _env_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ---------------------------------------------------------------------------------------------- errors

_KEY_HEAD = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.*)$", re.S)


def config_error(exc: ValidationError, sections: Collection[str] | None = None) -> ConfigError:
    """The first problem of a validation error as one line: `<key>: <what is wrong>`."""
    err = exc.errors(include_url=False)[0]
    key = _key(err["loc"])
    what = _explain(err)
    head = _KEY_HEAD.match(what) if err["type"] == "value_error" else None
    if head:  # a check across keys names its key first: `ack_alert_minutes: must …`
        key = f"{key}.{head.group(1)}" if key else head.group(1)
        what = head.group(2)
    if err["type"] == "extra_forbidden" and len(err["loc"]) == 1 and sections is not None:
        what = f"unknown section (known: {', '.join(sorted(sections))})"
    return ConfigError(f"{key}: {what}" if key else what)


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "tuple[", "frozenset[", "list[")):
            continue  # pydantic's names for validator steps, not keys
        else:
            out += f".{part}" if out else part
    return out


def _explain(err: ErrorDetails) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind in ("float_type", "float_parsing"):
        return "must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("string_type", "path_type"):
        return "must be a string"
    if kind == "string_too_short":
        return "must be a non-empty string"
    if kind in ("tuple_type", "list_type", "frozen_set_type", "set_type"):
        return "must be a list"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("model_type", "model_attributes_type", "dict_type", "mapping_type"):
        return "must be a table"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {err.get('input')!r}"
    if kind == "greater_than":
        return "must be positive" if ctx.get("gt") == 0 else f"must be more than {_n(ctx.get('gt'))}"
    if kind == "greater_than_equal":
        return f"must be at least {_n(ctx.get('ge'))}"
    if kind == "less_than_equal":
        return f"must be at most {_n(ctx.get('le'))}"
    if kind == "less_than":
        return f"must be less than {_n(ctx.get('lt'))}"
    return str(err["msg"])


def _n(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
