"""The test clock (EDIGATE_CLOCK_FILE) survives being read while a test rewrites it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from edigate.clock import file_clock

T0 = "2026-03-02T10:00:00+00:00"


def test_reads_the_instant(tmp_path: Path) -> None:
    f = tmp_path / "clock.txt"
    f.write_text(T0)
    assert file_clock(str(f))() == datetime(2026, 3, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize("torn", ["", "2026-03-0", "2026-03-02T11:00:00", "2026-03-02T11:00:00+0"])
def test_a_torn_read_keeps_the_last_instant(tmp_path: Path, torn: str) -> None:
    """A write in progress (empty, cut short, cut before the offset) must not jump to the system clock."""
    f = tmp_path / "clock.txt"
    f.write_text(T0)
    now = file_clock(str(f))
    assert now() == datetime(2026, 3, 2, 10, tzinfo=UTC)
    f.write_text(torn)
    assert now() == datetime(2026, 3, 2, 10, tzinfo=UTC)
    f.write_text("2026-03-02T12:00:00+01:00")
    assert now() == datetime(2026, 3, 2, 11, tzinfo=UTC)


def test_an_instant_without_offset_is_refused_at_first_read(tmp_path: Path) -> None:
    f = tmp_path / "clock.txt"
    f.write_text("2026-03-02T10:00:00")
    with pytest.raises(ValueError, match="offset"):
        file_clock(str(f))()
