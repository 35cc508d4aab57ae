"""Time-based jobs run on one instance: two `edigate serve` on one PostgreSQL, a real SMTP server.

The outage procedure's scheduled notices and the mail outbox run only on the holder of the PostgreSQL
advisory lock (edigate.store.leader). An incident over 2 h filed through the follower gets exactly one
first notice per list address; when the leader's lock connection is cut it steps down (`leader_lost`);
after the leader is killed -9 the other takes over and the resolved notice goes out exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.harness.service import Service, make_service
from tests.harness.smtp import SmtpServer
from tests.harness.wait import wait_until
from tests.integration.notify.conftest import (
    HOSPITALS,
    MAILBOX,
    ODENSE,
    TOKENS,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET_ENV,
    config_text,
)

pytestmark = pytest.mark.postgres

MONDAY_10 = "2026-11-23T10:00:00+01:00"
CONTACT = {"name": "Hanne Hansen", "phone": "+45 65 51 10 00", "email": "hanne@odense.example"}


def is_leader(svc: Service) -> bool | None:
    """/readyz "leader"; None when the instance does not answer."""
    try:
        with urllib.request.urlopen(svc.base_url + "/readyz", timeout=3) as resp:
            return bool(json.loads(resp.read())["leader"])
    except OSError:
        return None


def wait_for(predicate, what: str, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    return wait_until(predicate, timeout, lambda: f"timed out waiting for {what}")


def call(svc: Service, method: str, path: str, body: object, token: str) -> tuple[int, object]:
    req = urllib.request.Request(
        svc.base_url + path,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKENS[token]}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def subjects(smtp: SmtpServer, prefix: str) -> list[tuple[str, str]]:
    """(recipient, subject) per delivered copy of the notices starting with prefix."""
    with smtp.catcher.lock:
        return [(r, m.subject) for m in smtp.catcher.mails if m.subject.startswith(prefix) for r in m.rcpt_tos]


def cut_lock_connection(postgres_url: str) -> int:
    """pg_terminate_backend on the session holding the advisory lock: what a network cut does."""
    import asyncpg

    async def run() -> int:
        conn = await asyncpg.connect(postgres_url)
        try:
            pids = await conn.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
            for row in pids:
                await conn.execute("SELECT pg_terminate_backend($1)", row["pid"])
            return len(pids)
        finally:
            await conn.close()

    return asyncio.run(run())


def test_scheduled_notices_once_with_two_instances_and_takeover_after_kill(
    postgres_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    clock_file = tmp_path / "clock.txt"
    clock_file.write_text(MONDAY_10, encoding="utf-8")
    env = {"EDIGATE_CLOCK_FILE": str(clock_file), WEBHOOK_SECRET_ENV: WEBHOOK_SECRET}
    services = []
    for name in ("a", "b"):
        workdir = tmp_path / name
        workdir.mkdir()
        services.append(make_service(config_text(postgres_url, smtp_server.port, workdir), workdir, env=env))
    a, b = services
    try:
        a.start()
        wait_for(lambda: is_leader(a), "instance A to lead")
        b.start()
        time.sleep(2.5)  # more than one retry period of B
        assert is_leader(a) is True and is_leader(b) is False, "exactly one leader"

        # File through the follower: the leader's scheduler sends; nothing is sent twice.
        status, reply = call(
            b,
            "POST",
            "/api/v1/incidents",
            {
                "kind": "acute",
                "cause": "EOJ-systemet er nede",
                "affected_messages": ["XDIS17"],
                "contact": CONTACT,
                "expected_end": "2026-11-23T14:30:00+01:00",  # 4 h 30 min > 2 h
            },
            "odense",
        )
        assert status == 201, reply
        incident_id = reply["id"]  # type: ignore[index]
        expected = sorted(HOSPITALS | {MAILBOX[ODENSE]})
        wait_for(lambda: len(subjects(smtp_server, "[EDI-nedbrud]")) >= len(expected), "first notice")
        time.sleep(2.0)  # would a second copy still come from the other instance?
        first = subjects(smtp_server, "[EDI-nedbrud]")
        assert sorted(r for r, _ in first) == expected, f"first notice not exactly once: {first}"
        receipts = subjects(smtp_server, "[Kvittering]")
        assert max(Counter(r for r, _ in receipts).values()) == 1, f"receipt twice: {receipts}"

        # Cut the leader's lock connection: it steps down (leader_lost); one of the two leads again.
        assert cut_lock_connection(postgres_url.replace("postgresql://", "postgres://")) == 1
        wait_for(lambda: "leader_lost" in a.log_text(), "leader_lost in A's log")
        wait_for(lambda: [is_leader(a), is_leader(b)].count(True) == 1, "a leader again")
        leader, follower = (a, b) if is_leader(a) else (b, a)

        # kill -9 the leader; the other takes over and sends the resolved notice exactly once.
        leader.kill9()
        wait_for(lambda: is_leader(follower), "the survivor to take over", timeout=30)
        tmp = clock_file.with_suffix(".tmp")  # atomically: the service may read it at any moment
        tmp.write_text("2026-11-23T11:15:00+01:00", encoding="utf-8")
        tmp.replace(clock_file)
        status, _ = call(follower, "POST", f"/api/v1/incidents/{incident_id}/resolve", {"text": "kører"}, "odense")
        assert status == 200
        wait_for(lambda: len(subjects(smtp_server, "[Løst]")) >= len(expected), "resolved notice")
        time.sleep(2.0)
        resolved = subjects(smtp_server, "[Løst]")
        assert sorted(r for r, _ in resolved) == expected, f"resolved notice not exactly once: {resolved}"
        assert "leader_acquired" in follower.log_text()
        print(
            f"\nHA timed jobs: first notice {len(first)} copies to {len(expected)} list addresses, "
            f"resolved {len(resolved)} copies after the leader was killed; leader_lost logged after the "
            f"lock connection was cut; takeover by instance {'A' if follower is a else 'B'}"
        )
    finally:
        for svc in services:
            svc.stop()
