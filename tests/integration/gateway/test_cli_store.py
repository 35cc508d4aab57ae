"""Issue 12 item 15: the operator commands name their database and never create one; `serve` without
`--config` says what it does; a busy port is one line. Real subprocesses of the installed `edigate`."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.harness import config as cfg

REPO = Path(__file__).resolve().parents[3]


def edigate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edigate", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


def test_messages_from_another_folder_refuses_to_create_a_database(tmp_path: Path) -> None:
    (tmp_path / "gw").mkdir()
    config = tmp_path / "gw" / "edigate.toml"
    text = cfg.base("sqlite:///var/edigate.db", "admin", "tok-admin").replace("{port}", "8080")
    config.write_text(text, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (("messages", "list"), ("messages", "show", "1"), ("messages", "retry", "1")):
        done = edigate(*args, "--config", str(config), cwd=elsewhere)
        assert done.returncode == 2, done
        assert "does not exist" in done.stderr and "refusing to create" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert not list(elsewhere.rglob("*.db")), "a new empty database was created"


def test_messages_names_the_database_it_uses(tmp_path: Path) -> None:
    db = tmp_path / "edigate.db"
    config = tmp_path / "edigate.toml"
    config.write_text(cfg.base(cfg.sqlite_url(db), "admin", "tok-admin").replace("{port}", "8080"), encoding="utf-8")
    db.touch()  # an existing (empty) SQLite file: the command migrates and lists nothing
    done = edigate("messages", "list", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"edigate: database: SQLite {db.resolve()}" in done.stderr


def test_serve_on_a_busy_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "edigate.toml"
        text = cfg.base(cfg.sqlite_url(tmp_path / "edigate.db"), "admin", "tok-admin").replace("{port}", str(port))
        config.write_text(text, encoding="utf-8")
        done = edigate("serve", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1, done
    lines = [line for line in done.stderr.splitlines() if line.startswith("edigate:")]
    assert lines == [f"edigate: cannot listen on 127.0.0.1:{port}: address already in use"] or (
        len(lines) == 1 and "cannot listen on" in lines[0]
    ), done.stderr
    assert "Traceback" not in done.stderr
