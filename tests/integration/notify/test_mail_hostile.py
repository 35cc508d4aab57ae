"""Hostile mail addresses and subscription floods against the real `edigate serve` (issue 10, findings 1 and 8).

* A bad address is refused where it enters (subscriptions API and form, the incident's contact e-mail),
  with a Danish message naming the field; good ones are stored normalised.
* Poison rows already in the database (a subscription and an outbox row written before the check existed)
  never stop the mail: receipts and notices still go out through a real SMTP server, the bad rows are
  marked failed and shown to the EDI support desk (incident page, `/admin/outbox`, the
  `edigate_outbox_failed` gauge, never with the address in the metrics).
* 25 subscription requests at once for one address send at most one confirmation mail, each answered
  with the same neutral 202; a client over its limit gets 429 with Retry-After.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from edigate.store.notify_store import notices, outbox, subscriptions
from notify.config import NotifySettings
from tests.harness import config as cfg
from tests.harness.http import request
from tests.harness.smtp import SmtpServer
from tests.integration.health.conftest import metric_value
from tests.integration.notify.conftest import HOSPITALS, MAILBOX, ODENSE, TOKENS
from tests.integration.notify.test_login_throttle import _FromAddress
from tests.integration.notify.test_notify_input import Browser

MONDAY_10 = "2026-11-23T10:00:00+01:00"
POISON = "a\x01b@example.org"  # the reported case: a control character
INCIDENT = {
    "kind": "acute",
    "cause": "EOJ-systemet er nede",
    "affected_messages": ["XDIS17"],
    "contact": {"name": "Hanne Hansen", "phone": "+45 65 51 10 00", "email": "hanne@odense.example"},
    "expected_end": "2026-11-23T15:00:00+01:00",
}


def post_json(base: str, path: str, body: Any, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
    reply = request(
        base + path,
        "POST",
        json.dumps(body).encode(),
        token=TOKENS[token] if token else None,
        headers={"Content-Type": "application/json"},
        timeout=10,
        text=True,
    )
    return reply.status, reply.body, reply.headers


def test_bad_addresses_are_refused_where_they_enter_and_good_ones_stored_normalised(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    base = world.service.base_url
    bad = [POISON, "x@exa\nmple.org", "Hanne <h@odense.example>", "a b@example.org", "x@localhost", "", 42]
    for value in bad:
        status, reply, _ = post_json(base, "/api/v1/subscriptions", {"email": value})
        assert status == 422, (value, reply)
        assert reply["felter"]["email"].startswith("E-mail: adressen"), reply
        assert "\x01" not in json.dumps(reply, ensure_ascii=False)  # the bad value is never echoed raw
    status, reply, _ = post_json(
        base,
        "/api/v1/incidents",
        {**INCIDENT, "contact": {**INCIDENT["contact"], "email": POISON}},  # type: ignore[dict-item]
        "odense",
    )
    assert status == 422 and reply["felter"]["contact_email"].startswith("Kontaktpersonens e-mail"), reply
    # The outage form's contact e-mail: the same check, the Danish message on the page.
    reporter = Browser(base)
    reporter.login(TOKENS["odense"])
    _, page, _ = reporter.get("/incidents/new")
    form = [
        ("csrf", reporter.csrf(page)),
        ("kind", "acute"),
        ("cause", "EOJ-systemet er nede"),
        ("affected_messages", "XDIS17"),
        ("expected_end", "2026-11-23T15:00"),
        ("contact_name", "Hanne Hansen"),
        ("contact_phone", "+45 65 51 10 00"),
        ("contact_email", "hanne@odense.example\r\nBcc: offer@example.org"),
    ]
    status, page, _ = reporter.post("/incidents/new", form)
    assert status == 422 and "Kontaktpersonens e-mail: adressen" in page
    assert world.count_incidents() == 0

    # The form: the Danish message next to the field, nothing stored.
    b = Browser(base)
    _, page, _ = b.get("/subscriptions/new")
    status, page, _ = b.post("/subscriptions/new", [("csrf", b.csrf(page)), ("email", "hanne\x01@odense.example")])
    assert status == 422 and "E-mail: adressen indeholder tegn, der ikke er tilladt" in page
    status, subs = world.call("GET", "/api/v1/subscriptions", token="admin")
    assert status == 200 and subs["subscriptions"] == []

    # A good address, pasted with spaces and an upper-case domain, is stored normalised.
    status, reply, _ = post_json(base, "/api/v1/subscriptions", {"email": "  Sygeplejerske@Kolding.EXAMPLE "})
    assert status == 202 and reply["email"] == "Sygeplejerske@kolding.example", reply
    mail = world.wait_mails(1)[0]
    assert mail.rcpt_tos == ["Sygeplejerske@kolding.example"]


def _poison_the_database(db_file: Path) -> None:
    """Rows as a version without the address check could have left them: a confirmed subscription that
    matches every outage, and in front of everything an unsent confirmation mail, both to POISON."""
    engine = sa.create_engine(f"sqlite:///{db_file}")
    now = datetime.now(UTC)
    with engine.begin() as conn:
        sub_id = conn.execute(  # type: ignore[index]
            sa.insert(subscriptions).values(
                email=POISON,
                organisations="[]",
                clusters="[]",
                message_types="[]",
                state="confirmed",
                confirm_token="poison-confirm",
                unsubscribe_token="poison-unsubscribe",
                created_at=now,
                created_by=POISON,
                confirmed_at=now,
            )
        ).inserted_primary_key[0]
        notice_id = conn.execute(  # type: ignore[index]
            sa.insert(notices).values(
                incident_id=None, kind="confirm", dedupe_key="poison:confirm", created_at=now, subject="Bekræft"
            )
        ).inserted_primary_key[0]
        conn.execute(
            sa.insert(outbox).values(
                notice_id=notice_id,
                incident_id=None,
                channel="mail",
                address=POISON,
                source=f"abonnement:{sub_id}",
                subject="Bekræft dit abonnement",
                body_text="tekst",
                body_html="",
                payload="",
                subscription_id=sub_id,
                message_id="<poison@edigate>",
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )
    engine.dispose()


def test_poison_rows_from_before_do_not_stop_the_mail_and_the_desk_sees_them(
    world_factory: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    text = world.service.config_path.read_text(encoding="utf-8")
    world.service.config_path.write_text(text + cfg.table("health", {"interval_seconds": 0.5}), encoding="utf-8")
    world.service.start()  # creates the schema
    world.service.stop()
    _poison_the_database(tmp_path / "edigate.db")
    world.service.start()

    reply = world.file(**{k: v for k, v in INCIDENT.items() if k != "kind"})
    # Receipts (reporter + on duty) and the first notice to the hospitals and Odense: none held up.
    expected = {"hanne@odense.example", *HOSPITALS, MAILBOX[ODENSE]}
    world.wait_until(lambda: expected <= {r for m in world.mails() for r in m.rcpt_tos}, what="all good mails")
    assert all(POISON not in m.rcpt_tos for m in world.mails())

    # The incident shows the subscriber's row as failed, with the reason, the address escaped.
    errors = world.wait_until(lambda: world.incident(reply["id"])["errors"], what="the failed subscriber row")
    assert [(e["status"], e["address"]) for e in errors] == [("failed", POISON)], errors
    assert errors[0]["error"].startswith("ugyldig modtageradresse"), errors
    b = Browser(world.service.base_url)
    b.login(TOKENS["admin"])
    status, page, _ = b.get(f"/incidents/{reply['id']}")
    assert status == 200 and "Fejl ved udsendelse" in page and "a\\x01b@example.org" in page
    # The desk's list has both poison rows (the old confirmation too, which belongs to no incident).
    status, page, _ = b.get("/admin/outbox")
    assert status == 200 and page.count("a\\x01b@example.org") == 2 and "ugyldig modtageradresse" in page
    assert "\x01" not in page

    def gauge(notice: str) -> float | None:
        metrics = request(world.service.base_url + "/metrics", "GET", text=True).body
        assert "example.org" not in metrics  # never an address in the metrics
        return metric_value(metrics, "edigate_outbox_failed", channel="mail", notice=notice)

    world.wait_until(lambda: gauge("confirm") == 1 and gauge("first") == 1, what="the failed-rows gauge")


def _subscribe_from(base: str, address: str, email: str) -> tuple[int, str, dict[str, str]]:
    opener = urllib.request.build_opener(_FromAddress(address))
    req = urllib.request.Request(
        base + "/api/v1/subscriptions",
        data=json.dumps({"email": email}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_subscription_flood_sends_one_confirmation_and_limits_the_client(
    world_factory: Any, smtp_server: SmtpServer
) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)  # the default limits
    world.service.start()
    base = world.service.base_url
    victim = "offer@odense.example"
    limit = NotifySettings().subscribe_max_per_client
    with ThreadPoolExecutor(max_workers=25) as pool:
        answers = list(pool.map(lambda _: _subscribe_from(base, "127.0.0.1", victim), range(25)))
    assert Counter(s for s, _, _ in answers) == {202: limit, 429: 25 - limit}, answers
    assert len({body for s, body, _ in answers if s == 202}) == 1  # one neutral answer: nothing tells them apart
    assert all(int(h["Retry-After"]) > 0 for s, _, h in answers if s == 429)
    assert [m.rcpt_tos for m in world.wait_mails(1)][:1] == [[victim]]

    # This client stays over its limit, for another address too and on the form; another client is served.
    status, body, headers = _subscribe_from(base, "127.0.0.1", "en.anden@odense.example")
    assert status == 429, body
    assert int(headers["Retry-After"]) > 0 and "For mange anmodninger" in json.loads(body)["fejl"]
    b = Browser(base)
    _, page, _ = b.get("/subscriptions/new")
    status, page, headers = b.post("/subscriptions/new", [("csrf", b.csrf(page)), ("email", "tredje@odense.example")])
    assert status == 429 and int(headers["Retry-After"]) > 0 and "For mange anmodninger" in page
    assert _subscribe_from(base, "127.0.0.2", "en.anden@odense.example")[0] == 202
    # the outbox sends in order: once the later address's confirmation is in, a second one to the victim
    # (queued before it) would be too
    world.wait_until(lambda: any("en.anden@odense.example" in m.rcpt_tos for m in world.mails()), what="2nd mail")
    assert [m.rcpt_tos for m in world.mails()] == [[victim], ["en.anden@odense.example"]]
