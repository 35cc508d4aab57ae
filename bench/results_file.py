"""Where a benchmark leaves its figures: bench/results/<stem>.json (the data) beside <stem>.md (the report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(stem: str, data: Any, markdown: str, directory: Path = RESULTS) -> Path:
    """Write both files of one run; returns the report's path. The report ends with exactly one newline."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    report = directory / f"{stem}.md"
    report.write_text(markdown.rstrip("\n") + "\n", encoding="utf-8")
    return report
