"""The disk under the SQLite file fills up: ingest answers a clear 503 (never a 202 for a message that
is not stored); when space returns, ingest resumes by itself and `PRAGMA integrity_check` is ok.

The disk is a 4 MiB tmpfs mounted for the test (root only). Where mounting is not permitted the test
skips and says why."""

from __future__ import annotations

import collections
import errno
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.delivered import envelope_ids, wait_delivered
from tests.harness.receiver import Receiver
from tests.harness.service import make_service
from tests.integration.gateway.conftest import TOKENS, Reply, call, config_text
from tests.unit.medcom.samples import xdis91_message

DISK_BYTES = 4 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs for the disk-full test needs root")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); disk-full not testable")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)


def fill(path: Path) -> int:
    """Write until the file system says ENOSPC; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as fh:
        while True:
            try:
                written += fh.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk = chunk[: len(chunk) // 2]
                if len(chunk) < 512:
                    return written


def post(base: str, env: str) -> Reply:
    body = xdis91_message(envelope_id=env, letter_id=f"LET{env[3:]}")
    return call(base, "POST", "/api/v1/messages", body, token=TOKENS["hospital"], timeout=15)


def test_disk_full_gives_503_then_resumes_without_corruption(
    small_disk: Path, tmp_path: Path, receiver: Receiver
) -> None:
    db = small_disk / "edigate.db"
    hospital_rx = Receiver().start()
    text = config_text(f"sqlite:///{db}", hospital_rx.url, receiver.url, tmp_path / "out")
    svc = make_service(text, tmp_path)
    accepted: list[str] = []
    outcomes: collections.Counter[str] = collections.Counter()
    try:
        svc.start()
        for i in range(5):
            reply = post(svc.base_url, f"ENVDF0{i:04d}")
            assert reply.status == 202, reply
            accepted.append(f"ENVDF0{i:04d}")

        filler = small_disk / "filler.bin"
        filled = fill(filler)
        refused = []
        for i in range(40):  # enough to outgrow any page SQLite still had free
            env = f"ENVDF1{i:04d}"
            reply = post(svc.base_url, env)
            outcomes[str(reply.status)] += 1
            if reply.status == 202:
                accepted.append(env)
            else:
                assert reply.status == 503, reply
                assert "NOT accepted" in reply.body["reason"], reply
                refused.append(env)
        assert refused, f"the disk was full but nothing was refused: {dict(outcomes)}"
        assert call(svc.base_url, "GET", "/healthz", timeout=5).status == 200

        filler.unlink()  # space returns
        deadline = time.monotonic() + 20
        resumed_after = None
        i = 0
        while time.monotonic() < deadline:
            env = f"ENVDF2{i:04d}"
            i += 1
            reply = post(svc.base_url, env)
            if reply.status == 202:
                accepted.append(env)
                resumed_after = i
                break
            time.sleep(0.2)
        assert resumed_after is not None, "ingest did not resume after space returned"

        wait_delivered(receiver, accepted, timeout=30)
        settled = len(receiver.bodies())
        time.sleep(1.0)
        assert len(receiver.bodies()) == settled, "re-sending did not stop after space returned"
        got = envelope_ids(receiver.bodies())
        missing = set(accepted) - set(got)
        lost_refused = set(refused) & set(got)
        print(
            f"\ndisk full: filled {filled} bytes of a {DISK_BYTES}-byte tmpfs; 40 posts on the full disk: "
            f"{dict(outcomes)}; resumed after {resumed_after} post(s) once space returned; "
            f"{len(accepted)} accepted, {len(missing)} missing, "
            f"{sum(n - 1 for n in collections.Counter(got).values())} duplicate deliveries (sent again while "
            f"the 'delivered' mark could not be committed)"
        )
        assert not missing, f"a 202 was given for a message that is not delivered: {sorted(missing)}"
        assert not lost_refused, f"refused with 503 but delivered anyway (a false 503): {sorted(lost_refused)}"
    finally:
        svc.stop()
        hospital_rx.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT envelope_id FROM gw_messages")}
    assert set(accepted) <= stored
