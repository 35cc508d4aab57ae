"""Switching the envelope byte reader off, for the tests and the benchmark that compare it with the tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from edigate.medcom import validator as validator_module


@contextmanager
def tree_reader_only() -> Iterator[None]:
    """Within the block every envelope is read by the tree reader of envelope.py (envelope_bytes is off)."""
    real = validator_module.read_head  # type: ignore[attr-defined]
    validator_module.read_head = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        validator_module.read_head = real  # type: ignore[attr-defined]
