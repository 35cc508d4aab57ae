"""The worked examples in docs/outage-procedure.md are what `plan()` and the CLI actually say."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from notify.policy import plan

CPH = ZoneInfo("Europe/Copenhagen")
DOC = Path(__file__).resolve().parents[3] / "docs" / "outage-procedure.md"


def L(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.astimezone(CPH) if value.tzinfo else value.replace(tzinfo=CPH)


def worked_examples() -> list[list[str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- worked-examples:start -->")[1].split("<!-- worked-examples:end -->")[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("|")][2:]  # skip header + rule
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in rows]


ROWS = worked_examples()


def test_the_table_has_the_edges() -> None:
    assert len(ROWS) >= 20
    whys = " ".join(row[9] for row in ROWS)
    for needle in ("22:00", "Friday", "Juledag", "Langfredag", "Kristi himmelfartsdag", "summer time", "UTC"):
        assert needle in whys


@pytest.mark.parametrize("row", ROWS, ids=[row[9] for row in ROWS])
def test_worked_example(row: list[str]) -> None:
    kind, reported, start, end, notice, handled, by, first, minutes, _why = row
    result = plan(kind, L(reported), L(end), start=L(start) if start else None)  # type: ignore[arg-type]
    assert result.notify is (notice == "yes")
    assert result.handled_at.astimezone(UTC) == L(handled).astimezone(UTC)
    assert result.handled_at.utcoffset() == L(handled).utcoffset()
    assert result.handled_by == by
    if first:
        assert result.first_notice_at is not None
        assert result.first_notice_at.astimezone(UTC) == L(first).astimezone(UTC)
    else:
        assert result.first_notice_at is None
    assert result.downtime_minutes == int(minutes)
