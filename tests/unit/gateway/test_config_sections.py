"""Every config section: a bad value makes `edigate serve` print one line naming the key and exit 2,
before anything starts (no traceback)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edigate.cli import main

REPO = Path(__file__).resolve().parents[3]
PARTNER = '[[partners]]\nean = "5790000198764"\nname = "Testkommune"\nkind = "municipality"\n'

# (section, TOML text with one bad value, the key the error must start with)
BAD = [
    ("server", '[server]\nlisten = "nowhere"\n', "server.listen"),
    ("storage", '[storage]\nurl = "mysql://x"\n', "storage.url"),
    ("medcom", '[medcom]\ngateway_ean = "12"\n', "medcom.gateway_ean"),
    ("delivery", "[delivery]\nmax_attempts = 0\n", "delivery.max_attempts"),
    ("partners", PARTNER.replace("municipality", "castle"), "partners[0].kind"),
    ("clients", PARTNER + '[[clients]]\nname = "c"\neans = ["5790000000005"]\n', "clients[0].eans[0]"),
    ("admins", '[[admins]]\nname = "a"\ntokens_sha256 = ["zz"]\n', "admins[0].tokens_sha256[0]"),
    ("health", '[health]\ninterval_seconds = "often"\n', "health.interval_seconds"),
    ("alerts", "[alerts]\nmax_reminders = -1\n", "alerts.max_reminders"),
    ("logging", '[logging]\nlevel = "loud"\n', "logging.level"),
    ("metrics", '[metrics]\nenabled = "yes"\n', "metrics.enabled"),
    ("retention", "[retention]\nbody_days = 0\n", "retention.body_days"),
    ("notify", "[notify.mail]\nport = 70000\n", "notify.mail.port"),
    ("unknown", "[colour]\nred = 1\n", "colour: unknown section"),
]


@pytest.mark.parametrize(("section", "text", "key"), BAD, ids=[b[0] for b in BAD])
def test_bad_value_names_the_key_and_exits_2(
    section: str, text: str, key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    assert main(["serve", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"edigate: configuration error: {key}"), err


def test_bad_health_section_as_a_process_has_no_traceback(tmp_path: Path) -> None:
    """The case that used to die with a traceback (exit 1) after the server was built."""
    config = tmp_path / "bad.toml"
    config.write_text("[health]\ndown_unreachable_minutes = -5\n", encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "edigate", "serve", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == "edigate: configuration error: health.down_unreachable_minutes: must be at least 0"
