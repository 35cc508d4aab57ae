"""A wheel built from this tree carries the shipped MedCom schemas and the migration history: installed into a
fresh virtualenv, `edigate validate` finds the schemas on its own (no --schema-dir, no EDIGATE_SCHEMA_DIR, run
outside the checkout) and a new database is migrated to the newest revision.

The wheel is built and installed without dependencies; the fresh venv reaches this environment's lxml & co
through a path entry placed after its own site-packages, so the `edigate` it imports is the installed one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from edigate import migrations
from tests.unit.medcom.samples import ggop_message, xdis20_message, xdis91_message

REPO = Path(__file__).resolve().parents[3]


def _run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode in ok, f"{args} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_install_validates_with_its_own_schemas(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, REPO, cwd=tmp_path)
    (wheel,) = wheels.glob("edigate-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel, cwd=tmp_path)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run(python, "-c", purelib, cwd=tmp_path).stdout.strip())
    (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDIGATE_", "PYTHON", "VIRTUAL_ENV"))}
    where = _run(
        python,
        "-c",
        "import edigate, edigate.medcom as m; print(edigate.__file__); print(m.default_schema_dir())",
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    assert where[0].startswith(str(site)), where  # the installed package, not the checkout
    assert where[1] == str(venv / "share" / "edigate" / "schemas" / "medcom"), where
    # the example configuration travels with the wheel: `edigate demo` finds it outside the checkout
    example = _run(
        python,
        "-c",
        "from edigate.demo.config import EXAMPLE; print(EXAMPLE, EXAMPLE.is_file())",
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    assert example == [str(venv / "share" / "edigate" / "examples" / "region-syddanmark.toml"), "True"], example
    # the gateway's page templates travel with the package: /routes renders after `pip install`
    pages = "from edigate.web.pages import TEMPLATES as T; print((T / 'routes.html').is_file())"
    assert _run(python, "-c", pages, cwd=tmp_path, env=env).stdout.split() == ["True"]

    messages = tmp_path / "in"
    messages.mkdir()
    (messages / "xdis91.xml").write_bytes(xdis91_message())
    (messages / "xdis20.xml").write_bytes(xdis20_message())
    (messages / "ggop.xml").write_bytes(ggop_message())
    (messages / "broken.xml").write_bytes(xdis20_message().replace(b"<Letter>", b"<Letter><Extra/>", 1))
    proc = _run(venv / "bin" / "edigate", "validate", "--json", messages, cwd=tmp_path, env=env, ok=(0, 1))
    results = {Path(r["file"]).name: r for r in json.loads(proc.stdout)}
    assert proc.returncode == 1  # one invalid file
    assert {n: (r["valid"], r["type"]) for n, r in results.items()} == {
        "xdis91.xml": (True, "XDIS91"),
        "xdis20.xml": (True, "XDIS20"),
        "ggop.xml": (True, "GGOP"),
        "broken.xml": (False, "XDIS20"),
    }
    assert results["broken.xml"]["refuse_code"] == "syntaksfejl"

    # the migration history travels with the wheel: the installed package makes a new database at the head
    migrate = (
        "import asyncio, sqlalchemy as sa\n"
        "from edigate import migrations\n"
        "from edigate.store.db import Database\n"
        "async def main():\n"
        "    db = Database.open('sqlite:///' + 'new.db')\n"
        "    await db.migrate()\n"
        "    async with db.engine.connect() as c:\n"
        "        print((await c.execute(sa.text('SELECT version_num FROM alembic_version'))).scalar_one())\n"
        "    await db.close()\n"
        "    print(migrations.HERE)\n"
        "asyncio.run(main())\n"
    )
    version, where_from = _run(python, "-c", migrate, cwd=tmp_path, env=env).stdout.split()
    assert where_from.startswith(str(site)), where_from
    assert version == migrations.head()  # the checkout's newest revision
