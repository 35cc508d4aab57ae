"""`edigate outage plan` as on-call staff run it: a real subprocess, JSON on stdout, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edigate", "outage", "plan", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--kind", "acute", "--reported-at", "2026-11-22T23:30", "--expected-end", "2026-11-23T03:00"],
            {
                "notify": True,
                "handled_at": "2026-11-23T08:00:00+01:00",
                "handled_by": "edi-support",
                "first_notice_at": "2026-11-23T08:00:00+01:00",
                "downtime_minutes": 210,
            },
        ),
        (
            [
                "--kind",
                "acute",
                "--reported-at",
                "2026-11-23T10:00+01:00",
                "--expected-end",
                "2026-11-23T12:00+01:00",
            ],
            {
                "notify": False,
                "handled_at": "2026-11-23T10:00:00+01:00",
                "handled_by": "edi-support",
                "first_notice_at": None,
                "downtime_minutes": 120,
            },
        ),
        (  # UTC input: 06:59Z is 07:59 local; shown with the local offset
            ["--kind", "acute", "--reported-at", "2026-11-23T06:59Z", "--expected-end", "2026-11-23T10:00Z"],
            {
                "notify": True,
                "handled_at": "2026-11-23T08:00:00+01:00",
                "handled_by": "edi-support",
                "first_notice_at": "2026-11-23T08:00:00+01:00",
                "downtime_minutes": 181,
            },
        ),
        (  # planned: announced when handled (Friday 14:00 is on-call), not at the shutdown's start
            [
                "--kind",
                "planned",
                "--reported-at",
                "2026-11-27T14:00",
                "--start",
                "2026-11-28T06:00",
                "--expected-end",
                "2026-11-28T10:00",
            ],
            {
                "notify": True,
                "handled_at": "2026-11-27T14:00:00+01:00",
                "handled_by": "on-call",
                "first_notice_at": "2026-11-27T14:00:00+01:00",
                "downtime_minutes": 240,
            },
        ),
        (  # spring-forward night: 01:00 -> 04:00 local is 2 h, no notice; summer-time offset in the output
            ["--kind", "acute", "--reported-at", "2026-03-29T01:00", "--expected-end", "2026-03-29T04:00"],
            {
                "notify": False,
                "handled_at": "2026-03-29T08:00:00+02:00",
                "handled_by": "on-call",
                "first_notice_at": None,
                "downtime_minutes": 120,
            },
        ),
        (  # Juledag 2026 (a Friday) is handled by on-call
            ["--kind", "acute", "--reported-at", "2026-12-25T10:00", "--expected-end", "2026-12-25T13:00"],
            {
                "notify": True,
                "handled_at": "2026-12-25T10:00:00+01:00",
                "handled_by": "on-call",
                "first_notice_at": "2026-12-25T10:00:00+01:00",
                "downtime_minutes": 180,
            },
        ),
    ],
)
def test_plan_prints_json(args: list[str], expected: dict[str, object]) -> None:
    result = run(*args)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    reason = output.pop("reason")
    assert output == expected
    assert isinstance(reason, str) and reason.endswith(".") and "\n" not in reason


def test_plan_acute_under_threshold_names_the_overrun_notice() -> None:
    result = run("--kind", "acute", "--reported-at", "2026-11-23T03:00", "--expected-end", "2026-11-23T04:00")
    assert result.returncode == 0, result.stderr
    reason = json.loads(result.stdout)["reason"]
    assert "2026-11-23 05:00 CET" in reason and "2026-11-23 08:00 CET" in reason


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (
            ["--kind", "acute", "--reported-at", "yesterday", "--expected-end", "2026-11-23T04:00"],
            "--reported-at",
        ),
        (
            ["--kind", "acute", "--reported-at", "2026-11-23T03:00", "--expected-end", "2026-13-01T00:00"],
            "--expected-end",
        ),
        (
            [
                "--kind",
                "acute",
                "--reported-at",
                "2026-11-23T03:00",
                "--start",
                "3am",
                "--expected-end",
                "2026-11-23T04:00",
            ],
            "--start",
        ),
        (
            ["--kind", "acute", "--reported-at", "2026-11-23T05:00", "--expected-end", "2026-11-23T04:00"],
            "--expected-end",
        ),
        (
            [
                "--kind",
                "planned",
                "--reported-at",
                "2026-11-23T05:00",
                "--start",
                "2026-11-24T05:00",
                "--expected-end",
                "2026-11-24T04:00",
            ],
            "--start",
        ),
        (
            ["--kind", "sudden", "--reported-at", "2026-11-23T05:00", "--expected-end", "2026-11-23T09:00"],
            "--kind",
        ),
        (["--kind", "acute", "--expected-end", "2026-11-23T09:00"], "--reported-at"),
    ],
)
def test_bad_input_exits_2_naming_the_option(args: list[str], option: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert option in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_outage_without_subcommand_shows_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edigate", "outage"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "plan" in result.stderr
