"""The demo's parts without the service: its letters are valid MedCom, its config is what `serve` accepts."""

from __future__ import annotations

import asyncio
import io
import tomllib
from datetime import date, datetime
from pathlib import Path

import pytest

from edigate.demo.config import BROKEN, EXAMPLE, HOSPITALS, MUNICIPALITIES, DemoTimings, demo_settings, dumps
from edigate.demo.messages import BUILDERS, Outgoing, build
from edigate.demo.scenario import Story, _senders_told
from edigate.demo.service import demo_rules, demo_start
from edigate.medcom import Validator, build_positive_receipt, default_schema_dir, extract_envelope, parse
from edigate.settings import parse_settings
from notify.policy import DEFAULT_RULES


@pytest.fixture(scope="module")
def validator() -> Validator:
    return Validator(default_schema_dir())


@pytest.mark.parametrize("type_code", sorted(BUILDERS))
def test_every_demo_letter_and_its_receipt_is_valid(validator: Validator, type_code: str) -> None:
    letter = Outgoing(
        type_code,
        "DEMOENV0000001",
        "DEMOLET0000001",
        "5799999000119",
        "Odense Universitetshospital (med Svendborg) (FIKTIV EAN)",
        BROKEN,
        "Kolding Kommune (FIKTIV EAN)",
        "0101010001",
        datetime(2026, 11, 20, 10, 0),
    )
    result = validator.validate(build(letter))
    assert result.valid, result.errors
    assert result.message_type == type_code
    envelope = extract_envelope(parse(build(letter)))
    assert envelope is not None
    receipt = build_positive_receipt(envelope, envelope_id="K1", letter_id="K2", sent=datetime(2026, 11, 20, 10, 1))
    checked = validator.validate(receipt)
    assert checked.valid and checked.message_type == "XCTL03", checked.errors


def test_demo_config_round_trips_and_parses(tmp_path: Path) -> None:
    raw = demo_settings(port=18080, workdir=tmp_path, receiver_url="http://127.0.0.1:1", timings=DemoTimings(4))
    assert tomllib.loads(dumps(raw)) == raw
    settings = parse_settings(tomllib.loads(dumps(raw)))
    http = {p.ean for p in settings.partners if p.delivery.kind == "http"}
    assert http == set(HOSPITALS) | set(MUNICIPALITIES)
    assert settings.notify.mail.kind == "directory"  # type: ignore[union-attr]
    thresholds = settings.health.thresholds()
    assert thresholds.down_unreachable.total_seconds() == pytest.approx(6, abs=0.1)


def test_demo_clock_starts_on_a_weekday_at_ten_outside_holidays() -> None:
    assert demo_start(date(2026, 11, 22)).isoformat() == "2026-11-20T10:00:00+01:00"  # Sunday -> Friday
    # Christmas Day is a public holiday, and 24 December a closing day of the region (issue 12 item 9)
    assert demo_start(date(2026, 12, 25)).date() == date(2026, 12, 23)
    assert demo_start(date(2026, 4, 6)).date() == date(2026, 4, 1)  # Easter Monday back past Good Fri/Maundy Thu


def test_demo_clock_keeps_the_configured_closing_days(tmp_path: Path) -> None:
    """The demo starts on a day the example's [notify.rules] call open, as the service will read them."""
    assert demo_rules(EXAMPLE).closing_days == DEFAULT_RULES.closing_days  # the example keeps the defaults
    example = tmp_path / "example.toml"
    example.write_text(
        EXAMPLE.read_text(encoding="utf-8") + '\n[notify.rules]\nclosing_days = ["11-20"]\n', encoding="utf-8"
    )
    assert demo_start(date(2026, 11, 20), demo_rules(example)).date() == date(2026, 11, 19)
    assert demo_start(date(2026, 11, 20), demo_rules(EXAMPLE)).date() == date(2026, 11, 20)


def _notice_eml(to: str) -> bytes:
    return f"To: {to}\r\nSubject: [EDI-nedbrud] Kolding Kommune\r\n\r\nnedbrud\r\n".encode()


async def test_senders_told_waits_for_the_hospitals_copy_of_the_notice(tmp_path: Path) -> None:
    """The outbox writes the notice's copies one by one (the municipality's first, the hospitals' tens of
    milliseconds later on a loaded machine): the step must wait for a hospital's copy, not report it missing."""
    hospital = sorted(HOSPITALS)[0]
    (tmp_path / "edigate.toml").write_text(
        f'[[partners]]\nean = "{BROKEN}"\nmailbox = "edi@kolding.example"\n\n'
        f'[[partners]]\nean = "{hospital}"\nmailbox = "edi@hospital.example"\n',
        encoding="utf-8",
    )
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "00000001-edi@kolding.example.eml").write_bytes(_notice_eml("edi@kolding.example"))
    out = io.StringIO()
    story = Story(out=out, speed=4, workdir=tmp_path)
    # the hospital's copy lands a moment after the step starts looking
    later = asyncio.get_running_loop().call_later(
        0.5, (mail / "00000002-edi@hospital.example.eml").write_bytes, _notice_eml("edi@hospital.example")
    )
    try:
        await _senders_told(story, {hospital: "Testsygehus"})
    finally:
        later.cancel()
    assert story.missing == [], out.getvalue()
    assert "senders told" in out.getvalue() and "Testsygehus" in out.getvalue()
