"""The disk under the SQLite file fills up while the outage procedure is used (issue 10, item 15): the
incident API and the form answer 503 with a reason (never 500), `/readyz` says not ready and why, and
both recover by themselves when space returns. A real full file system: a 4 MiB tmpfs (root only; the
fixture skips and says why elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness.http import Reply
from tests.harness.service import make_service
from tests.harness.wait import wait_until
from tests.integration.ha.test_disk_full import fill, small_disk  # noqa: F401 - the fixture
from tests.integration.hardening.conftest import World, config_text
from tests.integration.notify.test_notify_input import Browser


def file_incident(world: World, n: int) -> Reply:
    body = world.incident_body()
    body["affected_messages"] = ["XDIS91"]
    body["cause"] = f"EOJ nede, forsøg {n}: " + "lang beskrivelse " * 110  # ~1.9 KB: needs new pages
    return world.call(
        "POST", "/api/v1/incidents", json.dumps(body).encode(), role="reporter", content_type="application/json"
    )


def test_full_disk_gives_503_and_not_ready_then_recovers(small_disk: Path, tmp_path: Path) -> None:  # noqa: F811
    svc = make_service(config_text(f"sqlite:///{small_disk / 'edigate.db'}", tmp_path), tmp_path)
    world = World(svc)
    try:
        svc.start()
        assert file_incident(world, 0).status == 201
        ready = world.call("GET", "/readyz", role="anonymous")
        assert ready.status == 200 and ready.body["components"]["disk"] == "ok", ready
        browser = Browser(world.url)
        browser.login("tok-hardening-reporter")
        _, form_page, _ = browser.get("/incidents/new")

        fill(small_disk / "filler.bin")
        ready = world.call("GET", "/readyz", role="anonymous")
        assert ready.status == 503 and ready.body["components"]["disk"] == "full", ready

        statuses = []
        for n in range(1, 120):  # until the database file itself can grow no more
            reply = file_incident(world, n)
            statuses.append(reply.status)
            assert reply.status in (201, 503), reply
            if reply.status == 503:
                assert reply.body["reason"].startswith("storage unavailable") and reply.body["fejl"], reply
                assert reply.headers.get("Retry-After") == "30"
                break
        print(f"incident posts on the full disk: {len(statuses)}, answers {statuses[-3:]}")
        assert statuses[-1] == 503, "the disk was full but every incident was stored"
        ready = world.call("GET", "/readyz", role="anonymous")
        assert ready.status == 503 and ready.body["components"]["storage_writes"].startswith("failing"), ready

        fields = [
            ("csrf", browser.csrf(form_page)),
            ("kind", "acute"),
            ("cause", "x" * 1900),
            ("affected_messages", "XDIS91"),
            ("expected_end", "2030-01-01T12:00"),
            ("contact_name", "Hanne"),
            ("contact_phone", "65511000"),
            ("contact_email", "h@kommune.example"),
        ]
        status, page, _ = browser.post("/incidents/new", fields)
        assert status == 503 and "Midlertidigt utilgængelig" in page, (status, page[:300])
        assert world.call("GET", "/healthz", role="anonymous").status == 200

        (small_disk / "filler.bin").unlink()  # space returns
        wait_until(
            lambda: world.call("GET", "/readyz", role="anonymous").status == 200,
            30,
            lambda: f"/readyz still {world.call('GET', '/readyz', role='anonymous')}",
        )
        assert file_incident(world, 999).status == 201
        assert "request_failed" not in svc.log_text(), "a 500 was answered"
    finally:
        svc.stop()
