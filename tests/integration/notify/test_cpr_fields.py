"""No CPR number in any free-text field of the outage procedure (issue 10, item 4): the form, the incidents
API (report, update, resolve) and subscriptions (API and form) refuse a CPR in every written form, name
the field in Danish, and store, publish, mail and log nothing of it."""

from __future__ import annotations

import re
from typing import Any

from tests.harness.smtp import SmtpServer
from tests.integration.notify.conftest import CONTACT, ODENSE, TOKENS
from tests.integration.notify.test_notify_input import GOOD, MONDAY_10, Browser

FORMS = ["030405-6789", "0304056789", "030405 6789", "03.04.05-6789", "03.04.05 6789"]
SERIAL = "6789"  # the last four digits of every form: must appear nowhere afterwards
#: the serial as a number of its own (a masked "XXXXXX-6789" too), not four digits inside another number or id:
#: a log line's timestamp (…43.616789Z) holds them by chance (a CI run failed on that)
SERIAL_ALONE = re.compile(rf"(?<![0-9A-Za-z]){SERIAL}(?![0-9A-Za-z])")
#: what the machine writes into a log line, not the request: the time and the instance (`vm:<pid>:<hex>`)
MACHINE_FIELDS = re.compile(r'"(timestamp|owner|pid)": ("[^"]*"|\d+)')


def shows_the_cpr(text: str) -> bool:
    """Whether `text` holds one of the CPR's written forms, or its serial on its own."""
    return any(form in text for form in FORMS) or SERIAL_ALONE.search(text) is not None


def with_cpr(field: str, cpr: str) -> dict[str, Any]:
    body: dict[str, Any] = {**GOOD, "contact": dict(GOOD["contact"])}  # type: ignore[arg-type]
    text = f"Patient {cpr} er ramt"
    if field.startswith("contact_"):
        key = field.removeprefix("contact_")
        body["contact"][key] = {"email": f"x{cpr}@odense.example", "phone": cpr}.get(key, text)
    elif field in ("affected_messages", "affected_organisations"):
        body[field] = [cpr]
    else:
        body[field] = text
    return body


def test_api_refuses_a_cpr_in_every_field_in_every_form(world_factory: Any, smtp_server: SmtpServer) -> None:
    # 15 refused subscription requests from one address: above the default flood limit of 10 per client
    world = world_factory(smtp_server, clock=MONDAY_10, subscribe_max_per_client=100)
    world.service.start()
    fields = ["cause", "contact_name", "contact_phone", "contact_email", "affected_messages", "affected_organisations"]
    for field in fields:
        for cpr in FORMS:
            status, reply = world.call("POST", "/api/v1/incidents", with_cpr(field, cpr))
            assert status == 422, (field, cpr, reply)
            assert list(reply["felter"]) == [field], (field, cpr, reply)
            assert "CPR-nummer" in reply["felter"][field] and not shows_the_cpr(str(reply))
    assert world.count_incidents() == 0

    incident = world.file(expected_end="2026-11-23T15:00:00+01:00")
    path = f"/api/v1/incidents/{incident['id']}"
    for cpr in FORMS:
        for action in ("updates", "resolve"):
            status, reply = world.call("POST", f"{path}/{action}", {"text": f"Ring til {cpr}"})
            assert status == 422 and list(reply["felter"]) == ["text"], (action, cpr, reply)
            assert "»Status«" in reply["felter"]["text"]
    assert world.incident(incident["id"])["updates"] == [] and world.incident(incident["id"])["state"] == "open"

    for cpr in FORMS:
        for body, field in (
            ({"email": f"{cpr}@kolding.example"}, "email"),
            ({"email": "a@kolding.example", "organisations": [cpr]}, "organisations"),
            ({"email": "a@kolding.example", "clusters": [f"Fyn {cpr}"]}, "clusters"),
        ):
            status, reply = world.call("POST", "/api/v1/subscriptions", body, token=None)
            assert status == 422 and list(reply["felter"]) == [field], (body, reply)
    status, subs = world.call("GET", "/api/v1/subscriptions", token="admin")
    assert status == 200 and subs["subscriptions"] == []

    assert_nowhere(world)


def test_form_names_the_field_with_a_cpr_in_danish(world_factory: Any, smtp_server: SmtpServer) -> None:
    world = world_factory(smtp_server, clock=MONDAY_10)
    world.service.start()
    b = Browser(world.service.base_url)
    b.login(TOKENS["odense"])
    _, page, _ = b.get("/incidents/new")
    good = [
        ("kind", "acute"),
        ("reporting_organisation", ODENSE),
        ("role", "eoj"),
        ("cause", "EOJ nede"),
        ("affected_messages", "XDIS17"),
        ("expected_end", "2026-11-23T15:00"),
        ("contact_name", CONTACT["name"]),
        ("contact_phone", CONTACT["phone"]),
        ("contact_email", CONTACT["email"]),
    ]
    for field, label in (
        ("cause", "Årsag til fejl"),
        ("contact_name", "Kontaktperson, navn"),
        ("contact_phone", "Kontaktperson, telefon"),
        ("contact_email", "Kontaktperson, e-mail"),
    ):
        for cpr in FORMS:
            value = (
                cpr
                if field == "contact_phone"
                else f"x {cpr}@odense.example"
                if field == "contact_email"
                else f"pt {cpr}"
            )
            fields = [("csrf", b.csrf(page)), *[(k, value if k == field else v) for k, v in good]]
            status, page, _ = b.post("/incidents/new", fields)
            assert status == 422, (field, cpr)
            assert f"Feltet »{label}« ser ud til at indeholde et CPR-nummer" in page, (field, cpr)
    assert world.count_incidents() == 0
    _, page, _ = b.get("/subscriptions/new")
    status, page, _ = b.post("/subscriptions/new", [("csrf", b.csrf(page)), ("email", "0304056789@kolding.example")])
    assert status == 422 and "Feltet »E-mail« ser ud til at indeholde et CPR-nummer" in page
    status, _, _ = b.post("/incidents/new", [("csrf", b.csrf(page)), *good])
    assert status == 303, "a report without a CPR is still filed"
    assert_nowhere(world)


def assert_nowhere(world: Any) -> None:
    """The CPR's serial is in no public page, feed, mail or log line (after the good report's mails)."""
    for path in ("/status", "/status.atom", "/status/planned.ics"):
        status, body = world.call("GET", path, token=None)
        assert status == 200 and not shows_the_cpr(str(body)), path
    world.wait_mails(2)  # the good report's receipt and first notice: the outbox has run
    assert not any(shows_the_cpr(m.text()) for m in world.mails())
    log = world.service.log_text()
    assert log.count('"event"') > 10  # the service's real log
    assert not shows_the_cpr(MACHINE_FIELDS.sub("", log))
