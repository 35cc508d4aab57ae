"""Encryption at rest in the running service: the CPR never lies in the database in clear text, the
receiver still gets the exact bytes, and after a key rotation old bodies stay readable.
"""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path

from edigate.store.crypto import ACTIVE_ENV, KEYS_ENV, key_id_of
from tests.harness.config import sqlite_url
from tests.harness.service import make_service
from tests.integration.hardening.conftest import World, config_text
from tests.unit.medcom.samples import FICTITIOUS_CPR


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def stored_bodies(db: Path) -> list[bytes]:
    with sqlite3.connect(db) as conn:
        return [bytes(r[0]) for r in conn.execute("SELECT body FROM gw_messages ORDER BY id")]


def started_world(tmp_path: Path, body_keys: str) -> tuple[World, Path]:
    """The hardened world on SQLite in tmp_path, started with EDIGATE_BODY_KEYS = `body_keys`; its database file."""
    db = tmp_path / "edigate.db"
    svc = make_service(config_text(sqlite_url(db), tmp_path), tmp_path, env={KEYS_ENV: body_keys})
    svc.start()
    return World(svc), db


def test_bodies_are_sealed_and_keys_rotate(tmp_path: Path) -> None:
    k1, k2 = key(), key()
    w, db = started_world(tmp_path, f"k1:{k1}")
    svc = w.service
    try:
        xml, _ = w.send("C")
        first = w.call("GET", "/api/v1/mailbox?limit=5", role="receiver")
        assert first.status == 200 and base64.b64decode(first.body["messages"][0]["xml_base64"]) == xml
    finally:
        svc.stop()
    bodies = stored_bodies(db)
    assert [key_id_of(b) for b in bodies] == ["k1"]
    assert FICTITIOUS_CPR.encode() not in db.read_bytes()
    for wal in tmp_path.glob("edigate.db-wal"):
        assert FICTITIOUS_CPR.encode() not in wal.read_bytes()

    # rotate: k2 is active, k1 still listed; the old body is still delivered as sent
    svc.env = {KEYS_ENV: f"k1:{k1},k2:{k2}", ACTIVE_ENV: "k2"}
    svc.start()
    try:
        w.send("C")
        shown = w.call("GET", "/api/v1/messages/1", role="admin")
        assert shown.status == 200 and base64.b64decode(shown.body["body_base64"]) == xml
    finally:
        svc.stop()
    assert [key_id_of(b) for b in stored_bodies(db)] == ["k1", "k2"]


def test_missing_key_for_a_stored_body_is_a_clear_error_not_ciphertext(tmp_path: Path) -> None:
    w, _db = started_world(tmp_path, f"old:{key()}")
    svc = w.service
    try:
        w.send("M")
    finally:
        svc.stop()
    svc.env = {KEYS_ENV: f"new:{key()}"}  # the operator dropped the old key too early
    svc.start()
    try:
        reply = w.call("GET", "/api/v1/mailbox?limit=5", role="receiver")
        assert reply.status == 500 and reply.body == {"status": "error", "reason": "intern fejl"}
    finally:
        svc.stop()
    log = svc.log_text()
    assert "BodyKeyError" in log and FICTITIOUS_CPR not in log
