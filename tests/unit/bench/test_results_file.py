"""A benchmark's results: the data as JSON beside the readable report, both complete after one call."""

from __future__ import annotations

import json
from pathlib import Path

from bench.results_file import write_results


def test_writes_the_data_and_the_report_side_by_side(tmp_path: Path) -> None:
    report = write_results("soak-sqlite", {"p99_ms": 37.9, "windows": [1, 2]}, "# Soak\n\n| a |\n\n\n", tmp_path)
    assert report == tmp_path / "soak-sqlite.md"
    assert json.loads((tmp_path / "soak-sqlite.json").read_text(encoding="utf-8")) == {
        "p99_ms": 37.9,
        "windows": [1, 2],
    }
    assert report.read_text(encoding="utf-8") == "# Soak\n\n| a |\n"


def test_makes_the_results_folder_of_a_fresh_checkout(tmp_path: Path) -> None:
    write_results("drain", {}, "# Drain", tmp_path / "results")
    assert (tmp_path / "results" / "drain.md").read_text(encoding="utf-8") == "# Drain\n"
