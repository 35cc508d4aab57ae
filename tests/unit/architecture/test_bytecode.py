"""The session writes the bytecode of edigate and notify first (tests.harness.bytecode), so the service
processes the tests start import it instead of compiling ~150 modules each (PYTHONDONTWRITEBYTECODE=1
would otherwise leave every start compiling from source)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.harness.bytecode import PACKAGES

REPO = Path(__file__).resolve().parents[3]


def test_every_module_of_the_packages_has_current_bytecode() -> None:
    stale = []
    for package in PACKAGES:
        for source in sorted((REPO / package).rglob("*.py")):
            cached = Path(importlib.util.cache_from_source(str(source)))
            if not cached.exists() or cached.stat().st_mtime < source.stat().st_mtime:
                stale.append(str(source.relative_to(REPO)))
    assert not stale, f"modules without current bytecode after the session started: {stale[:10]}"
