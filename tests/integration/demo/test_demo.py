"""`edigate demo` as a newcomer runs it: a real subprocess, the whole story, the notices in the mail folder.

At --speed 4 the story takes about 15-25 s (the route goes down after 6 s unreachable, a 2.5 s recovery hold).
"""

from __future__ import annotations

import re
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STEPS = (
    "route down",
    "draft incident",
    "draft not public",
    "confirmed",
    "notice",
    "senders told",
    "repair",
    "recovered",
    "resolved",
    "reporter told",
)
CPR = re.compile(r"(?<!\d)010101\d{4}(?!\d)")


def subjects(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.glob("*.eml")):
        with path.open("rb") as fh:
            out.append(str(BytesParser(policy=policy.default).parse(fh, headersonly=True)["Subject"]))
    return out


@pytest.mark.timeout(120)
def test_demo_tells_the_whole_outage_story(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-m", "edigate", "demo", "--speed", "4", "--workdir", str(workdir)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]

    lines = output.splitlines()
    for step in STEPS:
        assert any(line[10:].startswith(step) for line in lines if line.startswith("[")), f"{step!r} not in:\n{output}"
    assert "NOT SEEN" not in output
    assert "every step happened" in output
    # where to look, at the start and again at the end
    assert output.count("/status ") >= 2 and output.count("/metrics") >= 2
    assert output.count(str(workdir / "mail")) >= 2

    mails = subjects(workdir / "mail")
    assert any(s.startswith("[EDI-nedbrud]") for s in mails), mails  # the notice to the distribution list
    assert any(s.startswith("[Løst]") for s in mails), mails  # the resolved notice
    assert any(s.startswith("[edigate] NEDE") for s in mails), mails  # the on-call alert

    # the traffic carried fictitious CPR numbers and names: none may reach the service log or the mails
    log = (workdir / "service.log").read_text(errors="replace")
    assert "message accepted" in log or "delivered" in log  # the log is the service's, not empty
    assert not CPR.search(log)
    assert "Testperson" not in log
    for path in (workdir / "mail").glob("*.eml"):
        text = path.read_text(errors="replace")
        assert not CPR.search(text) and "Testperson" not in text, path.name
