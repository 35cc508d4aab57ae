"""Compiled bytecode of the project's own packages, written once per test session.

Every test that starts `edigate serve` (or another `python -m edigate` command) imports about 150 of the
project's modules. Without their `__pycache__` (an environment with PYTHONDONTWRITEBYTECODE=1 never writes
it), each of those processes compiles all of them from source again: about 0.5 s of CPU per start, a
third of it. Python reads existing bytecode under that setting, it only does not write it, so the session
writes it here first (checked by timestamp, as the import system does).
"""

from __future__ import annotations

import compileall
from pathlib import Path

PACKAGES = ("edigate", "notify")


def compile_packages(repo: Path) -> None:
    """Write missing or stale `.pyc` files of the project's packages (a file that does not compile is left
    to the import that needs it, which reports it)."""
    for name in PACKAGES:
        compileall.compile_dir(repo / name, quiet=2)
