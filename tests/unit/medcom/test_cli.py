"""`edigate validate` as a user runs it: a real subprocess, exit codes, JSON shape, and never a CPR."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, OFFICIAL_XSD, REPO, require_shared
from tests.unit.medcom import samples

FIELDS = {
    "file", "valid", "type", "version_code", "namespace", "envelope_id", "letters", "sender_ean",
    "receiver_ean", "ack_requested", "refuse_code", "errors",
}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edigate", "validate", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def example_cprs() -> set[str]:
    found: set[str] = set()
    for path in EXAMPLES.glob("*.xml"):
        found.update(m.decode() for m in re.findall(rb"<CivilRegistrationNumber>(\d+)<", path.read_bytes()))
    return found


def test_valid_file_exit_0() -> None:
    require_shared()
    proc = run("--schema-dir", str(OFFICIAL_XSD), str(EXAMPLES / "DIS91_1.xml"))
    assert proc.returncode == 0, proc.stderr
    assert "DIS91_1.xml: valid XDIS91 XD9134L envelope KuvertNr012234" in proc.stdout


def test_directory_json_every_file_one_object_and_no_cpr(tmp_path: Path) -> None:
    require_shared()
    proc = run("--json", "--schema-dir", str(OFFICIAL_XSD), str(EXAMPLES))
    assert proc.returncode == 1  # some examples are other MedCom families: unsupported
    objects = json.loads(proc.stdout)
    files = sorted(str(p) for p in EXAMPLES.glob("*.xml"))
    assert [o["file"] for o in objects] == files
    for obj in objects:
        assert set(obj) == FIELDS
        assert (obj["refuse_code"] is None) == obj["valid"]
    by_name = {Path(o["file"]).name: o for o in objects}
    dis20 = by_name["DIS20_1.xml"]
    assert dis20 == {
        "file": str(EXAMPLES / "DIS20_1.xml"), "valid": True, "type": "XDIS20", "version_code": "XD2030C",
        "namespace": "http://rep.oio.dk/sundcom.dk/medcom.dk/xml/schemas/2005/08/07/",
        "envelope_id": "123456789",
        "letters": [{"id": "24681012", "type": "XDIS20", "version_code": "XD2030C"}],
        "sender_ean": "5790000143054", "receiver_ean": "5790000143055", "ack_requested": False,
        "refuse_code": None, "errors": [],
    }  # fmt: skip
    assert by_name["RPT01_1.xml"]["refuse_code"] == "problem_med_version"
    assert "meddelelsestypen understøttes ikke" in by_name["RPT01_1.xml"]["errors"][0]["message"]
    cprs = example_cprs()
    assert len(cprs) > 5
    for cpr in cprs:
        assert cpr not in proc.stdout and cpr not in proc.stderr


def test_human_output_no_cpr_even_for_invalid_cpr(tmp_path: Path) -> None:
    require_shared()
    bad = tmp_path / "bad.xml"
    bad.write_bytes((EXAMPLES / "DIS91_1.xml").read_bytes().replace(b"1502824933", b"15028249339"))
    proc = run("--schema-dir", str(OFFICIAL_XSD), str(bad))
    assert proc.returncode == 1
    assert "INVALID (syntaksfejl) XDIS91" in proc.stdout
    assert "line 2:" in proc.stdout and "CivilRegistrationNumber" in proc.stdout
    assert "1502824933" not in proc.stdout + proc.stderr


def test_hostile_files_each_get_one_object(tmp_path: Path) -> None:
    (tmp_path / "a_empty.xml").write_bytes(b"")
    (tmp_path / "b_xxe.xml").write_bytes(b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    (tmp_path / "c_edifact.xml").write_bytes(b"UNA:+.? 'UNB+UNOC:3+1:14+2:14+991111:1850+1'")
    (tmp_path / "d_deep.xml").write_bytes(b"<a>" * 100_000 + b"</a>" * 100_000)
    (tmp_path / "e_junk.xml").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "f_xdis20.xml").write_bytes(samples.xdis20_message())
    (tmp_path / "ignored.txt").write_text("not walked")
    args = ["--json", str(tmp_path)]
    if OFFICIAL_XSD.is_dir():
        args[1:1] = ["--schema-dir", str(OFFICIAL_XSD)]
    proc = run(*args)
    objects = json.loads(proc.stdout)
    assert [Path(o["file"]).name for o in objects] == [
        "a_empty.xml", "b_xxe.xml", "c_edifact.xml", "d_deep.xml", "e_junk.xml", "f_xdis20.xml",
    ]  # fmt: skip
    for obj in objects[:5]:
        assert obj["valid"] is False and obj["refuse_code"] == "syntaksfejl" and obj["errors"], obj
    assert "root:" not in proc.stdout  # /etc/passwd never read
    assert samples.FICTITIOUS_CPR not in proc.stdout
    assert proc.returncode in (1, 2)  # 2 only if the project's classic schemas are not written yet


def test_nonexistent_path_exit_2() -> None:
    proc = run("--json", "/nonexistent/edigate/x.xml")
    assert proc.returncode == 2
    (obj,) = json.loads(proc.stdout)
    assert obj["file"] == "/nonexistent/edigate/x.xml" and obj["valid"] is False
    assert "no such file" in obj["errors"][0]["message"]
    assert "no such file" in proc.stderr


def test_usage_error_exit_2() -> None:
    assert run().returncode == 2
    assert run("--schema-dir", "/nonexistent/dir", str(REPO / "pyproject.toml")).returncode == 2


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    import os
    import pty

    for i in range(25):
        (tmp_path / f"m{i:02d}.xml").write_bytes(samples.xdis20_message(envelope_id=f"E{i}"))
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "edigate", "validate", "--json", str(tmp_path)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=slave, text=True, timeout=120,
        )  # fmt: skip
        os.close(slave)
        tty_err = b""
        try:
            while chunk := os.read(master, 65536):
                tty_err += chunk
        except OSError:  # EIO once the pty is drained
            pass
    finally:
        os.close(master)
    assert len(json.loads(proc.stdout)) == 25  # stdout stays pure JSON
    assert b"25/25" in tty_err
    piped = run("--json", str(tmp_path))
    assert "25/25" not in piped.stderr
