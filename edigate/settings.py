"""The whole configuration: the gateway's sections (`edigate.config`) plus notify's `[notify]`, read from
TOML + environment and validated up front. A bad value anywhere is one :class:`ConfigError` line naming
the key, before anything starts (`edigate serve` exits 2 with it).

This module and `edigate.app` are where the gateway and notify meet; every other part receives only its
own typed section.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from edigate.config import ConfigError, GatewaySettings, apply_environment, config_error, read_toml
from notify.config import NotifySettings

__all__ = ["ConfigError", "Settings", "load_settings", "parse_settings"]


class Settings(GatewaySettings):
    """Every section; `notify` is None when the file has no `[notify]` (the outage procedure is off)."""

    notify: NotifySettings | None = None
    source: Path | None = Field(default=None, exclude=True)  # the file read, if any (not a config key)


def load_settings(path: str | Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file, apply `EDIGATE_…` overrides and validate; raises ConfigError naming the key."""
    raw = read_toml(path)
    apply_environment(raw, os.environ if environ is None else environ)
    base_dir = Path(path).resolve().parent if path else Path.cwd()
    settings = parse_settings(raw, base_dir=base_dir)
    return settings.model_copy(update={"source": Path(path) if path else None})


def parse_settings(raw: Mapping[str, Any], *, base_dir: Path | None = None) -> Settings:
    if "source" in raw:
        raise ConfigError(f"source: unknown section (known: {', '.join(sorted(_SECTIONS))})")
    try:
        return Settings.model_validate(dict(raw), context={"base_dir": base_dir or Path.cwd()})
    except ValidationError as exc:
        raise config_error(exc, _SECTIONS) from None


_SECTIONS = {name for name in Settings.model_fields if name != "source"}
