"""The JSON log a user reads on stdout: one event per line, UTC timestamps, and no CPR or patient name."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from edigate.logging import (
    CPR_MARK,
    REDACTED,
    bind_message,
    configure_logging,
    get_logger,
    redact_processor,
    redact_values,
    scrub_text,
    unbind_message,
)

CPRS = ["2512489996", "251248-9996", "0101011234", "311299-0003"]
MODULE_LOG = get_logger("edigate.module")  # created at import, before any configure_logging()


@pytest.fixture
def json_log(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Configure the real logging; the callable returns the JSON events written to stdout so far."""
    root = logging.getLogger()
    level = root.level
    configure_logging("debug", json=True)

    def lines() -> list[dict[str, Any]]:
        out = capsys.readouterr().out
        events = []
        for line in out.splitlines():
            assert line.startswith("{"), f"not one JSON event per line: {line!r}"
            event = json.loads(line)
            if event.get("logger") != "asyncio":  # the event loop's own debug chatter
                events.append(event)
        return events

    yield lines
    for handler in list(root.handlers):
        if getattr(handler, "_edigate", False):
            root.removeHandler(handler)
    root.setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def _assert_no_cpr(events: list[dict[str, Any]]) -> None:
    text = json.dumps(events, ensure_ascii=False)
    for cpr in CPRS:
        assert cpr not in text
        assert cpr.replace("-", "") not in text


JsonLog = Callable[[], list[dict[str, Any]]]


def test_cpr_removed_from_message_nested_fields_and_numbers(json_log: JsonLog) -> None:
    log = get_logger("edigate.test")
    log.info(
        "delivery failed for 2512489996",
        detail={"lines": ["patient 251248-9996 missing", {"deep": ("x 0101011234 y",)}]},
        as_number=101011234,
        ean="5790000123456",
        envelope_id="ENV00000012345",
    )
    (event,) = json_log()
    _assert_no_cpr([event])
    assert event["event"] == f"delivery failed for {CPR_MARK}"
    assert event["detail"]["lines"][0] == f"patient {CPR_MARK} missing"
    assert event["detail"]["lines"][1]["deep"] == [f"x {CPR_MARK} y"]
    assert event["as_number"] == CPR_MARK
    # EANs (13 digits) and envelope ids are not CPR numbers
    assert event["ean"] == "5790000123456"
    assert event["envelope_id"] == "ENV00000012345"
    assert event["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", event["timestamp"])


def test_not_a_cpr_is_left_alone() -> None:
    for text in [
        "5790000123456",  # EAN/GLN
        "57900001234567",  # 14-digit id
        "ENV0101011234",  # glued to letters: an id, not a standalone group
        "9999999999",  # day 99: no date
        "0113001234",  # month 13
        "2026-11-22T10:00:00Z",
        "order 12345-67890",
    ]:
        assert scrub_text(text) == text, text
    for text in ["2512489996", "251248-9996", "(0101011234)", "cpr=0101011234."]:
        assert CPR_MARK in scrub_text(text), text


def test_personal_keys_redacted_whatever_they_hold(json_log: Callable[[], list[dict[str, Any]]]) -> None:
    get_logger().warning(
        "ingest",
        cpr="x",
        patient={"name": "Nancy"},
        patient_name="Nancy Berggren",
        body=b"<xml/>",
        meta={"xml": "<Emessage/>", "PatientName": "N"},
        receiver="5790000000029",
    )
    (event,) = json_log()
    for key in ("cpr", "patient", "patient_name", "body"):
        assert event[key] == REDACTED
    assert event["meta"] == {"xml": REDACTED, "PatientName": REDACTED}
    assert event["receiver"] == "5790000000029"


def test_exception_text_and_traceback_scrubbed(json_log: Callable[[], list[dict[str, Any]]]) -> None:
    log = get_logger()
    try:
        raise ValueError("no patient with CPR 251248-9996 for Nancy Berggren")
    except ValueError as exc:
        with redact_values("Nancy Berggren"):
            log.exception("parse failed", error=exc)
    (event,) = json_log()
    _assert_no_cpr([event])
    assert "Traceback" in event["exception"]
    assert "ValueError: no patient with CPR [cpr] for [redacted]" in event["exception"]
    assert event["error"] == "no patient with CPR [cpr] for [redacted]"


def test_registered_patient_names_scrubbed_only_for_the_request(
    json_log: Callable[[], list[dict[str, Any]]],
) -> None:
    log = get_logger()
    with redact_values("Nancy Ann", "Berggren", None, "2512489996"):
        log.info("letter for NANCY Ann Berggren", note="Berggren, Nancy (2512489996)")
    log.info("Nancy after the request")
    first, after = json_log()
    assert "nancy" not in json.dumps(first).lower()
    assert "berggren" not in json.dumps(first).lower()
    assert first["note"] == f"{REDACTED}, {REDACTED} ({CPR_MARK})"
    assert after["event"] == "Nancy after the request"


async def test_registration_is_per_task(json_log: Callable[[], list[dict[str, Any]]]) -> None:
    """aiohttp handles each request in its own task: one request's names do not leak into another's scope."""
    import asyncio

    log = get_logger()
    ready = asyncio.Event()

    async def request_a() -> None:
        redact_values("Ebbe Testesen")
        ready.set()

    async def request_b() -> None:
        await ready.wait()
        log.info("b sees Ebbe")

    await asyncio.gather(request_a(), request_b())
    (event,) = json_log()
    assert event["event"] == "b sees Ebbe"


def test_stdlib_and_access_log_are_json_and_redacted(json_log: Callable[[], list[dict[str, Any]]]) -> None:
    logging.getLogger("aiohttp.access").info(
        '127.0.0.1 "GET /api/v1/messages?cpr=2512489996 HTTP/1.1" 200',
        extra={"first_request_line": "GET /api/v1/messages?cpr=2512489996 HTTP/1.1"},
    )
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logging.getLogger("aiohttp.server").exception("Error handling request 251248-9996")
    access, server = json_log()
    _assert_no_cpr([access, server])
    assert access["logger"] == "aiohttp.access"
    assert access["level"] == "info"
    assert access["first_request_line"] == f"GET /api/v1/messages?cpr={CPR_MARK} HTTP/1.1"
    assert server["level"] == "error"
    assert "ZeroDivisionError" in server["exception"]
    assert server["timestamp"].endswith("Z")
    assert "message" not in access


def test_bind_message_adds_ids_to_every_event(json_log: Callable[[], list[dict[str, Any]]]) -> None:
    log = get_logger()
    bind_message("m-1", "ENV1", "5790000000012->5790000000029")
    log.info("stored")
    log.info("delivered")
    unbind_message()
    log.info("idle")
    stored, delivered, idle = json_log()
    for e in (stored, delivered):
        assert (e["message_id"], e["envelope_id"]) == ("m-1", "ENV1")
        assert e["route"] == "5790000000012->5790000000029"
    assert "message_id" not in idle


def test_level_filter_and_bad_level(json_log: Callable[[], list[dict[str, Any]]]) -> None:
    configure_logging("warning")
    get_logger().info("hidden")
    get_logger().warning("shown")
    assert [e["event"] for e in json_log()] == ["shown"]
    with pytest.raises(ValueError, match=r"logging\.level"):
        configure_logging("loud")


def test_every_cpr_in_the_medcom_examples_is_caught(medcom_shared: Path, json_log: JsonLog) -> None:
    """Whole real messages logged by mistake still leave no CPR number (and, once registered, no name)."""
    files = sorted((medcom_shared / "examples").glob("*.xml")) + sorted(
        (medcom_shared / "fhir-examples").rglob("*.json")
    )
    assert files
    seen: set[str] = set()
    log = get_logger()
    for path in files:
        text = path.read_bytes().decode("cp1252", errors="replace")
        cprs = set(re.findall(r"CivilRegistrationNumber>(\d{10})<", text))
        cprs |= set(re.findall(r'"value"\s*:\s*"(\d{10})"', text))
        names = re.findall(r"Person(?:GivenName|SurnameName)>([^<]+)<", text)
        seen |= cprs
        with redact_values(*names):
            log.info("example", text=text, file=path.name)
        (event,) = json_log()
        dumped = json.dumps(event, ensure_ascii=False)
        for cpr in cprs:
            assert cpr not in dumped, f"{path.name}: {cpr} left in the log"
        for name in names:
            if len(name.strip()) >= 3:
                assert f">{name}<" not in dumped, f"{path.name}: {name!r} left in the log"
    assert len(seen) >= 10  # the examples really hold CPR numbers


def test_module_level_logger_follows_later_configuration(json_log: JsonLog) -> None:
    MODULE_LOG.info("from a module logger", cpr_number="2512489996")
    (event,) = json_log()
    assert event["logger"] == "edigate.module" and event["cpr_number"] == REDACTED


def test_redact_processor_standalone() -> None:
    from structlog.testing import capture_logs

    structlog.configure(processors=[redact_processor])
    try:
        with capture_logs(processors=[redact_processor]) as logs:
            structlog.get_logger().info("cpr 2512489996", nested={"patient_name": "x", "n": ["311299-0003"]})
    finally:
        structlog.reset_defaults()
    assert logs[0]["event"] == f"cpr {CPR_MARK}"
    assert logs[0]["nested"] == {"patient_name": REDACTED, "n": [CPR_MARK]}
