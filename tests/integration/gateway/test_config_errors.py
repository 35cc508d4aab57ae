"""A bad configuration stops `edigate serve` at once: exit code 2, one line naming the key, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.service import REPO

GOOD_PARTNER = """
[[partners]]
ean = "5790000198764"
name = "Testkommune"
kind = "municipality"
delivery = { kind = "mailbox" }
"""


def serve(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text, encoding="utf-8")
    import os

    return subprocess.run(
        [sys.executable, "-m", "edigate", "serve", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            GOOD_PARTNER * 3 + GOOD_PARTNER.replace("5790000198764", "57900001"),
            "partners[3].ean: not a valid EAN/GLN (13 digits with GS1 check digit)",
        ),
        ('[server]\nlisten = "nowhere"\n', "server.listen"),
        (GOOD_PARTNER.replace('"mailbox" }', '"http" }'), "partners[0].delivery.url: is required"),
        (GOOD_PARTNER.replace('"municipality"', '"kommune"'), "partners[0].kind"),
        (GOOD_PARTNER + GOOD_PARTNER, "partners[1].ean: 5790000198764 is already used"),
        ('[storage]\nurl = "mysql://x"\n', "storage.url"),
        ('[delivery]\nmax_attempts = "many"\n', "delivery.max_attempts: must be an integer"),
        ('[[admins]]\nname = "a"\ntokens_sha256 = ["abc"]\n', "admins[0].tokens_sha256[0]"),
        ('[[clients]]\nname = "c"\neans = ["5790000000050"]\n', "clients[0].eans[0]"),
        ('[notify.mail]\nport = "x"\n', "notify.mail.port"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    proc = serve(tmp_path, text)
    assert proc.returncode == 2, proc.stderr
    assert key in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_environment_override_is_checked_too(tmp_path: Path) -> None:
    proc = serve(tmp_path, GOOD_PARTNER, {"EDIGATE_SERVER__MAX_BODY_BYTES": "-5"})
    assert proc.returncode == 2 and "server.max_body_bytes" in proc.stderr
