"""TOML + environment -> typed, frozen settings. Every error names the key it is about.

Any key can be overridden from the environment as `EDIGATE_<SECTION>__<KEY>` (nested tables add more
`__` parts, e.g. `EDIGATE_NOTIFY__MAIL__PORT`). The value is read as a TOML value when it parses as one
(`42`, `true`, `["a"]`), otherwise as a plain string. The raw merged dict stays on `Settings.raw` so the
owners of `[notify]`, `[health]` and `[alerts]` parse their own sections.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edigate.medcom.ean import INVALID_EAN, is_valid_ean
from edigate.medcom.schemas import project_schema_dir

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SCHEMA_DIR = project_schema_dir()
ENV_PREFIX = "EDIGATE_"
PARTNER_KINDS = ("hospital", "municipality", "gp", "region")
DELIVERY_KINDS = ("http", "mailbox", "directory")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ConfigError(ValueError):
    """A bad configuration; the message starts with the key, e.g. `partners[3].ean: not a valid EAN/GLN …`."""


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 5 * 1024 * 1024
    shutdown_timeout_seconds: float = 10.0
    body_read_timeout_seconds: float = 30.0  # a slow-drip body gets 408 after this (edigate.web.limits)


@dataclass(frozen=True)
class StorageSettings:
    url: str = "sqlite:///var/edigate.db"
    group_commit_max: int = 256  # flush the ingest batch when this many callers wait …
    group_commit_wait_ms: float = 2.0  # … or after this long


@dataclass(frozen=True)
class MedcomSettings:
    schema_dir: Path = DEFAULT_SCHEMA_DIR
    gateway_ean: str | None = None


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = 50
    max_age_minutes: float = 2 * 24 * 60
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 300.0
    circuit_failure_threshold: int = 5
    circuit_open_seconds: float = 30.0
    http_timeout_seconds: float = 10.0
    mailbox_lease_seconds: float = 300.0
    worker_lease_seconds: float = 30.0
    batch_size: int = 100
    poll_interval_seconds: float = 1.0
    ack_timeout_minutes: float = 30.0
    ack_alert_minutes: float = 90.0
    ack_sweep_interval_seconds: float = 30.0


@dataclass(frozen=True)
class DeliveryTarget:
    kind: str  # http | mailbox | directory
    url: str | None = None
    path: Path | None = None


@dataclass(frozen=True)
class Partner:
    ean: str
    name: str
    kind: str
    clusters: tuple[str, ...]
    tokens_sha256: tuple[str, ...]
    mailbox: str | None
    delivery: DeliveryTarget
    accepts: tuple[str, ...] | None = None  # type codes or VersionCodes; None = everything


@dataclass(frozen=True)
class Client:
    """A sending system (e.g. the region's integration engine) that speaks for several EANs."""

    name: str
    tokens_sha256: tuple[str, ...]
    eans: tuple[str, ...]


@dataclass(frozen=True)
class Admin:
    name: str
    tokens_sha256: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    server: ServerSettings
    storage: StorageSettings
    medcom: MedcomSettings
    delivery: DeliverySettings
    partners: tuple[Partner, ...]
    clients: tuple[Client, ...]
    admins: tuple[Admin, ...]
    raw: Mapping[str, Any] = field(repr=False)
    source: Path | None = None
    notify: Any = None  # notify.config.NotifySettings when the notify package is present


# ---------------------------------------------------------------------------------------------- loading


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file, apply `EDIGATE_…` overrides and parse; raises ConfigError naming the key."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"--config: file not found: {p}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    apply_environment(raw, os.environ if environ is None else environ)
    settings = parse_settings(raw, base_dir=Path(path).resolve().parent if path else Path.cwd())
    return Settings(**{**settings.__dict__, "source": Path(path) if path else None})


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


# ---------------------------------------------------------------------------------------------- parsing


class _Section:
    """Typed reads from one table, each failure naming `prefix.key`."""

    def __init__(self, raw: Any, prefix: str, known: set[str] | None = None) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"{prefix}: must be a table")
        self.raw = raw
        self.prefix = prefix
        if known is not None:
            unknown = sorted(set(raw) - known)
            if unknown:
                raise ConfigError(f"{self.key(unknown[0])}: unknown key (known: {', '.join(sorted(known))})")

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def text(self, name: str, default: Any = ..., *, required: bool = False) -> Any:
        if name not in self.raw:
            if required or default is ...:
                raise ConfigError(f"{self.key(name)}: is required")
            return default
        value = self.raw[name]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.key(name)}: must be a non-empty string")
        return value.strip()

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{self.key(name)}: must be an integer")
        if value < minimum:
            raise ConfigError(f"{self.key(name)}: must be at least {minimum}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.raw.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.key(name)}: must be a number")
        if value < minimum:
            raise ConfigError(f"{self.key(name)}: must be at least {minimum}")
        return float(value)

    def texts(self, name: str, *, required: bool = False) -> tuple[str, ...] | None:
        if name not in self.raw:
            if required:
                raise ConfigError(f"{self.key(name)}: is required")
            return None
        value = self.raw[name]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f"{self.key(name)}: must be a string or a list of strings")
        return tuple(v.strip() for v in value)


def _tokens(section: _Section) -> tuple[str, ...]:
    tokens = section.texts("tokens_sha256") or ()
    for i, t in enumerate(tokens):
        if not _SHA256.match(t.lower()):
            raise ConfigError(
                f"{section.key('tokens_sha256')}[{i}]: must be 64 hex digits (sha256 of the token)"
            )
    return tuple(t.lower() for t in tokens)


def _ean(section: _Section, name: str, value: str | None = None) -> str:
    value = section.text(name, required=True) if value is None else value
    if not is_valid_ean(value):  # never quote it: a CPR typed into the field must not reach a log
        raise ConfigError(f"{section.key(name)}: {INVALID_EAN}")
    return value


def _table_list(raw: Mapping[str, Any], name: str) -> list[Any]:
    value = raw.get(name, [])
    if isinstance(value, dict):  # a single [name] table written by mistake
        raise ConfigError(f"{name}: must be an array of tables ([[{name}]])")
    if not isinstance(value, list):
        raise ConfigError(f"{name}: must be an array of tables ([[{name}]])")
    return value


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not (0 < int(port) < 65536):
        raise ConfigError(f"server.listen: must be host:port, got {text!r}")
    return (host.strip("[]") or "0.0.0.0"), int(port)


def parse_settings(raw: dict[str, Any], *, base_dir: Path | None = None) -> Settings:
    base_dir = base_dir or Path.cwd()
    known_top = {
        "server",
        "storage",
        "medcom",
        "delivery",
        "partners",
        "clients",
        "admins",
        "notify",
        "health",
        "alerts",
        "logging",
        "metrics",
        "routes",
        "retention",
    }
    for key in raw:
        if key not in known_top:
            raise ConfigError(f"{key}: unknown section (known: {', '.join(sorted(known_top))})")

    s = _Section(
        raw.get("server"),
        "server",
        {"listen", "max_body_bytes", "shutdown_timeout_seconds", "body_read_timeout_seconds"},
    )
    host, port = _listen(s.text("listen", "127.0.0.1:8080"))
    server = ServerSettings(
        host=host,
        port=port,
        max_body_bytes=s.integer("max_body_bytes", 5 * 1024 * 1024, minimum=1024),
        shutdown_timeout_seconds=s.number("shutdown_timeout_seconds", 10.0),
        body_read_timeout_seconds=s.number("body_read_timeout_seconds", 30.0, minimum=0.1),
    )

    st = _Section(raw.get("storage"), "storage", {"url", "group_commit_max", "group_commit_wait_ms"})
    url = st.text("url", "sqlite:///var/edigate.db")
    if not url.startswith(
        ("sqlite:///", "postgresql://", "postgres://", "sqlite+aiosqlite://", "postgresql+asyncpg://")
    ):
        raise ConfigError("storage.url: must start with sqlite:/// or postgresql://")
    storage = StorageSettings(
        url=url,
        group_commit_max=st.integer("group_commit_max", 256, minimum=1),
        group_commit_wait_ms=st.number("group_commit_wait_ms", 2.0),
    )

    m = _Section(raw.get("medcom"), "medcom", {"schema_dir", "gateway_ean"})
    schema_dir = Path(m.text("schema_dir", str(DEFAULT_SCHEMA_DIR)))
    if not schema_dir.is_absolute():
        schema_dir = (base_dir / schema_dir) if (base_dir / schema_dir).exists() else (REPO / schema_dir)
    gateway_ean = _ean(m, "gateway_ean") if "gateway_ean" in m.raw else None
    medcom = MedcomSettings(schema_dir=schema_dir, gateway_ean=gateway_ean)

    d_defaults = DeliverySettings()
    d = _Section(raw.get("delivery"), "delivery", set(DeliverySettings.__dataclass_fields__))
    delivery_values: dict[str, Any] = {}
    for name, f in DeliverySettings.__dataclass_fields__.items():
        default = getattr(d_defaults, name)
        delivery_values[name] = (
            d.integer(name, default, minimum=1) if f.type in ("int", int) else d.number(name, default)
        )
    delivery = DeliverySettings(**delivery_values)
    if delivery.ack_alert_minutes < delivery.ack_timeout_minutes:
        raise ConfigError("delivery.ack_alert_minutes: must not be less than delivery.ack_timeout_minutes")

    partners = tuple(_partner(p, i) for i, p in enumerate(_table_list(raw, "partners")))
    seen: dict[str, int] = {}
    for i, p in enumerate(partners):
        if p.ean in seen:
            raise ConfigError(f"partners[{i}].ean: {p.ean} is already used by partners[{seen[p.ean]}]")
        seen[p.ean] = i

    clients = []
    for i, c in enumerate(_table_list(raw, "clients")):
        cs = _Section(c, f"clients[{i}]", {"name", "tokens_sha256", "eans"})
        eans = cs.texts("eans", required=True) or ()
        for j, e in enumerate(eans):
            if not is_valid_ean(e):
                raise ConfigError(f"clients[{i}].eans[{j}]: {INVALID_EAN}")
            if e not in seen:
                raise ConfigError(f"clients[{i}].eans[{j}]: {e} is not a configured partner EAN")
        clients.append(Client(name=cs.text("name", required=True), tokens_sha256=_tokens(cs), eans=eans))

    admins = []
    for i, a in enumerate(_table_list(raw, "admins")):
        ads = _Section(a, f"admins[{i}]", {"name", "tokens_sha256"})
        admins.append(Admin(name=ads.text("name", required=True), tokens_sha256=_tokens(ads)))

    _check_tokens_unique(partners, clients, admins)

    notify = None
    if "notify" in raw:
        notify = _parse_notify(raw.get("notify"))

    return Settings(
        server=server,
        storage=storage,
        medcom=medcom,
        delivery=delivery,
        partners=partners,
        clients=tuple(clients),
        admins=tuple(admins),
        raw=raw,
        notify=notify,
    )


def _partner(raw: Any, i: int) -> Partner:
    ps = _Section(
        raw,
        f"partners[{i}]",
        {"ean", "name", "kind", "cluster", "clusters", "tokens_sha256", "mailbox", "delivery", "accepts"},
    )
    ean = _ean(ps, "ean")
    kind = ps.text("kind", required=True)
    if kind not in PARTNER_KINDS:
        raise ConfigError(f"partners[{i}].kind: must be one of {', '.join(PARTNER_KINDS)}")
    clusters = ps.texts("cluster") or ps.texts("clusters") or ()
    ds = _Section(
        ps.raw.get("delivery", {"kind": "mailbox"}), f"partners[{i}].delivery", {"kind", "url", "path"}
    )
    dkind = ds.text("kind", required=True)
    if dkind not in DELIVERY_KINDS:
        raise ConfigError(f"partners[{i}].delivery.kind: must be one of {', '.join(DELIVERY_KINDS)}")
    target = DeliveryTarget(kind=dkind)
    if dkind == "http":
        url = ds.text("url", required=True)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"partners[{i}].delivery.url: must be an http:// or https:// URL")
        target = DeliveryTarget(kind=dkind, url=url)
    elif dkind == "directory":
        path = Path(ds.text("path", required=True))
        target = DeliveryTarget(
            kind=dkind, path=path if path.is_absolute() else Path.cwd() / path
        )  # like storage.url
    mailbox = ps.text("mailbox", None)
    if mailbox is not None and "@" not in mailbox:
        raise ConfigError(f"partners[{i}].mailbox: must be a mail address")
    return Partner(
        ean=ean,
        name=ps.text("name", required=True),
        kind=kind,
        clusters=clusters,
        tokens_sha256=_tokens(ps),
        mailbox=mailbox,
        delivery=target,
        accepts=ps.texts("accepts"),
    )


def _check_tokens_unique(partners: tuple[Partner, ...], clients: list[Client], admins: list[Admin]) -> None:
    owners: dict[str, str] = {}
    groups: list[tuple[str, tuple[str, ...]]] = (
        [(f"partners[{i}]", p.tokens_sha256) for i, p in enumerate(partners)]
        + [(f"clients[{i}]", c.tokens_sha256) for i, c in enumerate(clients)]
        + [(f"admins[{i}]", a.tokens_sha256) for i, a in enumerate(admins)]
    )
    for where, tokens in groups:
        for t in tokens:
            if t in owners and owners[t] != where:
                raise ConfigError(f"{where}.tokens_sha256: a token is shared with {owners[t]}")
            owners[t] = where


def _parse_notify(raw: Any) -> Any:
    """Delegate `[notify]` to its owner; without the notify package the section is kept raw only."""
    try:
        from notify.config import parse_notify_config
    except ImportError:
        return None
    try:
        return parse_notify_config(raw, key_prefix="notify")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
