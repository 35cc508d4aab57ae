"""A benchmark's probe in a process of its own, importing edigate from the tree it measures.

Before and after trees are measured side by side: each probe runs in its own interpreter (PYTHONPATH names
the tree), so no module of one tree is imported into the other's run. The probe prints its figures as a
JSON object on its last stdout line. A probe script imports this module in its driver code only, not at
its top: the probe process has the measured tree first on its path, and an older tree's bench/ lacks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def run_json(script: Path, args: Sequence[str], *, src: Path, path: Sequence[Path], timeout: float) -> dict[str, Any]:
    """`python script *args` with `src` as working folder and `path` as PYTHONPATH: the last stdout line's object.

    A failed probe raises with the tail of its stderr; the whole of it is kept in a temporary file, named in
    the error, since a long traceback's start is what says which tree failed where.
    """
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=src,
        env={**os.environ, "PYTHONPATH": ":".join(str(p) for p in path)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        log = Path(tempfile.gettempdir()) / f"{script.stem}-{args[0]}-{uuid.uuid4().hex[:6]}.log"
        log.write_text(proc.stderr, encoding="utf-8")
        raise RuntimeError(f"{args[0]} in {src} failed (whole log: {log}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
