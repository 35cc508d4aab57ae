"""A benchmark's probe process: it imports from the tree it is given, its last stdout line is the result,
and a failed probe's whole stderr is kept where the error says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.probe import run_json

SCRIPT = """
import json, sys
import tree_marker
print("warming up")
if sys.argv[1] == "fail":
    print("first line of a long traceback", file=sys.stderr)
    print("x" * 5000, file=sys.stderr)
    raise SystemExit(3)
print(json.dumps({"tree": tree_marker.NAME, "arg": sys.argv[1]}))
"""


def tree(root: Path, name: str) -> Path:
    root.mkdir()
    (root / "tree_marker.py").write_text(f"NAME = {name!r}\n", encoding="utf-8")
    return root


def test_the_last_line_from_the_tree_named_first(tmp_path: Path) -> None:
    script = tmp_path / "probe_script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    before, after = tree(tmp_path / "before", "before"), tree(tmp_path / "after", "after")
    got = run_json(script, ["probe"], src=before, path=[before, after], timeout=60)
    assert got == {"tree": "before", "arg": "probe"}


def test_a_failed_probe_keeps_its_whole_stderr(tmp_path: Path) -> None:
    script = tmp_path / "probe_script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    src = tree(tmp_path / "src", "src")
    with pytest.raises(RuntimeError, match=r"fail in .* failed") as caught:
        run_json(script, ["fail"], src=src, path=[src], timeout=60)
    assert "first line of a long traceback" not in str(caught.value)  # only the tail is in the error
    found = re.search(r"whole log: (\S+)\)", str(caught.value))
    assert found, caught.value
    log = Path(found.group(1))
    try:
        assert log.read_text(encoding="utf-8").startswith("first line of a long traceback")
    finally:
        log.unlink()
