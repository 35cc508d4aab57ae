"""`pytest --collect-only` starts no process: the shared FHIR validator's JVM is started when the tests
run (in the background once a selected test needs it, at the latest by its fixture), never while they are
only collected (listing the tests cost a 30-90 s JVM start, and left it to the session's end to stop)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.fhir import fhir_skip_reason

REPO = Path(__file__).resolve().parents[3]
NEEDS_VALIDATOR = "tests/integration/fhir/test_validator.py"  # its tests use `fhir_validator_url`


def test_collect_only_starts_no_java_process(tmp_path: Path) -> None:
    reason = fhir_skip_reason()
    if reason is not None:
        pytest.skip(f"the validator could not start here anyway, so its absence proves nothing: {reason}")
    java = shutil.which("java")
    assert java is not None
    # `java` on the child's PATH is the real one behind a line that records who started it
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    record = tmp_path / "java-started"
    shim = shim_dir / "java"
    shim.write_text(f'#!/bin/sh\necho "parent=$PPID $*" >> "{record}"\nexec "{java}" "$@"\n', encoding="utf-8")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != "EDIGATE_TEST_FHIR_VALIDATOR_URL"}
    env["PATH"] = f"{shim_dir}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", NEEDS_VALIDATOR],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "test_validator.py::" in done.stdout, done.stdout[-2000:]  # tests that need the validator were listed
    started = record.read_text(encoding="utf-8") if record.exists() else ""
    assert started == "", f"pytest --collect-only started java: {started}"
