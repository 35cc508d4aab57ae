"""The desk's page of dead letters over HTTP (issue 12 item 6, "… and the desk's page"): who may see it, that it
shows the route and never the patient, "Prøv igen" and "Prøv alle til … igen" with the CSRF token, the
answers when there is nothing to retry, and the audit trail. The browser test walks the same page in
Chromium (tests/browser/test_dead_letters_page.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.eans import HOSPITAL, MUNICIPALITY
from tests.integration.notify.dead_letters_world import MUNICIPALITY_NAME, TOKENS, DeadLetterWorld, build
from tests.integration.notify.test_notify_input import Browser
from tests.unit.medcom.samples import FICTITIOUS_CPR

PAGE = "/desk/dead-letters"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[DeadLetterWorld]:
    w = build(tmp_path)
    try:
        w.service.start()
        yield w
    finally:
        w.service.stop()
        w.receiver.stop()


def desk(world: DeadLetterWorld, token: str = "region") -> Browser:
    b = Browser(world.service.base_url)
    b.login(TOKENS[token])
    return b


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_page_shows_the_route_and_never_the_patient(world: DeadLetterWorld) -> None:
    mid = world.dead_letter("ENVCPR01", cpr=FICTITIOUS_CPR)  # the sample's patient: Tove Æbelø Testesen
    status, html, _ = desk(world).get(PAGE)
    assert status == 200, html[:500]
    row = re.search(rf'<tr id="dead-letter-{mid}">(.*?)</tr>', html, re.S)
    assert row, html
    shown = text_of(row.group(1))
    for expected in (
        "XDIS91 (OIOXML)",
        "Testsygehus Syd",
        HOSPITAL,
        MUNICIPALITY_NAME,
        MUNICIPALITY,
        "HTTP 500; opgivet efter 2 forsøg",
    ):
        assert expected in shown, (expected, shown)
    assert "Prøv igen" in shown
    cpr_forms = (
        FICTITIOUS_CPR,
        f"{FICTITIOUS_CPR[:6]}-{FICTITIOUS_CPR[6:]}",
        f"{FICTITIOUS_CPR[:6]} {FICTITIOUS_CPR[6:]}",
    )
    for secret in (*cpr_forms, "Testesen", "Tove", "Æbelø", "Prøvegade"):
        assert secret not in html, secret
    assert "Prøv alle til Testkommune Vest igen" in text_of(html)


def test_only_the_desk_sees_the_page(world: DeadLetterWorld) -> None:
    anonymous = Browser(world.service.base_url)
    status, _, headers = anonymous.get(PAGE)
    assert status == 303 and headers["Location"].startswith("/login")
    status, html, _ = desk(world, "eoj").get(PAGE)
    assert status == 403 and "kun for EDI-support, vagten og Regional IT" in html
    status, html, _ = desk(world, "admin").get(PAGE)  # EDI support and on-call are admins
    assert status == 200 and "Ingen opgivne meddelelser." in html
    status, html, _ = desk(world).get("/incidents")
    assert status == 200 and f'href="{PAGE}"' in html  # linked from the worklist (and the navigation)


def test_retry_requeues_with_an_audit_entry_and_a_second_click_changes_nothing(world: DeadLetterWorld) -> None:
    mid = world.dead_letter("ENVRTY01")
    b = desk(world)
    _, html, _ = b.get(PAGE)
    csrf = b.csrf(html)

    status, html, _ = b.post(f"{PAGE}/{mid}/retry", [])  # no CSRF token: refused, nothing re-queued
    assert status == 403 and "CSRF" in html
    assert world.message(mid)["state"] == "failed"

    status, html, _ = b.post(f"{PAGE}/{mid}/retry", [("csrf", csrf)])
    assert status == 200, html[:500]
    assert f"Meddelelse {mid} (XDIS91) til {MUNICIPALITY_NAME} er lagt i kø igen med ny alder." in text_of(html)
    world.receiver.wait_for(1)
    shown = world.wait_state(mid, "delivered")
    assert [e["event"] for e in shown["history"]].count("retry") == 1
    history = re.search(r'<table id="history">(.*?)</table>', html, re.S)
    assert history and "Regional IT" in history.group(1) and f"Meddelelse {mid} (XDIS91, OIOXML)" in history.group(1)

    status, html, _ = b.post(f"{PAGE}/{mid}/retry", [("csrf", csrf)])  # the same form again (a reload)
    assert status == 409
    assert f"Meddelelse {mid} er ikke længere opgivet: den er allerede sendt igen eller leveret." in text_of(html)
    assert [e["event"] for e in world.message(mid)["history"]].count("retry") == 1

    for path, code, words in (
        (f"{PAGE}/987654/retry", 404, "Meddelelse 987654 findes ikke."),
        (f"{PAGE}/12x/retry", 404, "Meddelelsen findes ikke."),
    ):
        status, html, _ = b.post(path, [("csrf", csrf)])
        assert status == code and words in text_of(html), (path, status, html[:300])
    status, html, _ = b.get(PAGE + "?efter=bm90LWEtY3Vyc29y")
    assert status == 400 and "Linket til næste side er ugyldigt" in html


def test_retry_all_for_a_receiver_keeps_their_order(world: DeadLetterWorld) -> None:
    first = world.dead_letter("ENVALL01")
    second = world.dead_letter("ENVALL02")
    b = desk(world)
    _, html, _ = b.get(PAGE)
    assert f'id="dead-letter-{second}"' in html.split(f'id="dead-letter-{first}"')[0]  # newest first
    csrf = b.csrf(html)
    status, html, _ = b.post(f"{PAGE}/retry-receiver", [("csrf", csrf), ("receiver", MUNICIPALITY)])
    assert status == 200 and f"2 meddelelser til {MUNICIPALITY_NAME} er lagt i kø igen" in text_of(html)
    bodies = world.receiver.wait_for(2)
    assert [b"ENVALL01" in x for x in bodies] == [True, False] and b"ENVALL02" in bodies[1]
    status, html, _ = b.post(f"{PAGE}/retry-receiver", [("csrf", csrf), ("receiver", MUNICIPALITY)])
    assert status == 409 and "ingen opgivne meddelelser til" in text_of(html)
    status, html, _ = b.post(f"{PAGE}/retry-receiver", [("csrf", csrf), ("receiver", "nonsense")])
    assert status == 422 and "Vælg en modtager fra listen." in html
