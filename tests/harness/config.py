"""TOML pieces of an `edigate serve` config for a test world: tables, tokens, storage, partners, notify.

Every builder returns text that starts with its own table header, so a config is the pieces joined.
`{port}` is left in the text for `make_service` to fill in.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

SELF_URL = "http://127.0.0.1:{port}"
MAILBOX_DELIVERY: dict[str, Any] = {"kind": "mailbox"}
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def token_sha256(token: str | None) -> str:
    """The hex SHA-256 a config lists for a bearer token (None hashes as the empty string)."""
    return hashlib.sha256((token or "").encode()).hexdigest()


def toml_value(value: Any) -> str:
    """A TOML literal: JSON for scalars and lists (TOML shares that syntax), an inline table for a mapping."""
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Path):
        value = str(value)
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def table(name: str, values: Mapping[str, Any], *, array: bool = False) -> str:
    """`[name]` (or `[[name]]`) and one `key = value` line per value that is not None."""
    header = f"[[{name}]]" if array else f"[{name}]"
    lines = [f"{_key(k)} = {toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(["", header, *lines, ""])


def sqlite_url(path: Path) -> str:
    """The storage URL of a SQLite file."""
    return f"sqlite:///{path}"


def server(**settings: Any) -> str:
    """[server] listening on the loopback `{port}`."""
    return table("server", {"listen": "127.0.0.1:{port}", **settings})


def storage(url: str) -> str:
    """[storage] on SQLite or PostgreSQL, by URL."""
    return table("storage", {"url": url})


def base(storage_url: str, admin_name: str, admin_token: str | None, **server_settings: Any) -> str:
    """What every test world has: [server], [storage] and one admin."""
    return server(**server_settings) + storage(storage_url) + admin(admin_name, admin_token)


def admin(name: str, token: str | None) -> str:
    """One [[admins]] entry."""
    return table("admins", {"name": name, "tokens_sha256": [token_sha256(token)]}, array=True)


def client(name: str, token: str, eans: Sequence[str]) -> str:
    """One [[clients]] entry: a system that speaks for the partners `eans`."""
    return table("clients", {"name": name, "tokens_sha256": [token_sha256(token)], "eans": list(eans)}, array=True)


def http_delivery(url: str) -> dict[str, Any]:
    """A partner's delivery by HTTP POST to `url`."""
    return {"kind": "http", "url": url}


def directory_delivery(path: Path) -> dict[str, Any]:
    """A partner's delivery as files in `path`."""
    return {"kind": "directory", "path": str(path)}


def partner(
    ean: str,
    name: str,
    kind: str,
    cluster: str | Sequence[str],
    delivery: Mapping[str, Any],
    *,
    token: str | None = None,
    mailbox: str | None = None,
    accepts: Sequence[str] | None = None,
) -> str:
    """One [[partners]] entry; without `token` the partner has no API access."""
    values = {
        "ean": ean,
        "name": name,
        "kind": kind,
        "cluster": cluster,
        "accepts": accepts,
        "mailbox": mailbox,
        "tokens_sha256": [token_sha256(token)] if token is not None else None,
        "delivery": delivery,
    }
    return table("partners", values, array=True)


def notify(mail: Mapping[str, Any], **settings: Any) -> str:
    """[notify] (its public URL is the service itself) and its [notify.mail]."""
    return table("notify", {"public_url": SELF_URL, **settings}) + table("notify.mail", mail)


def smtp_mail(port: int, sender: str) -> dict[str, Any]:
    """[notify.mail] through the SMTP server on the loopback `port`, from EDI-support at `sender`."""
    return {
        "kind": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "from": f"EDI-support Region Syddanmark <{sender}>",
        "timeout_seconds": 3,
    }


def directory_mail(path: Path) -> dict[str, Any]:
    """[notify.mail] written as files into `path`."""
    return {"kind": "directory", "directory": str(path)}


def outage_notify(edi_support: str, on_call: str, smtp_port: int, **settings: Any) -> str:
    """The outage procedure with second-scale scheduler and outbox timings, mailing through real SMTP."""
    timings = {"scheduler_max_sleep_seconds": 0.3, "outbox_poll_seconds": 0.2, "outbox_max_backoff_seconds": 1.0}
    people = {"edi_support_email": edi_support, "on_call_email": on_call}
    return notify(smtp_mail(smtp_port, edi_support), **{**people, **timings, **settings})


def reporter(name: str, organisation: str, role: str, token: str | None) -> str:
    """One [[notify.reporters]] entry: who may file incidents for `organisation`."""
    values = {"name": name, "organisation": organisation, "role": role, "tokens_sha256": [token_sha256(token)]}
    return table("notify.reporters", values, array=True)


def fhir(**settings: Any) -> str:
    """[fhir]: the packages and the validator (e.g. `validator_url` = the test session's shared validator)."""
    return table("fhir", settings)
