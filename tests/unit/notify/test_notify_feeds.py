"""The status feeds are well-formed: iCalendar (CRLF, folding, escaping, UTC) and Atom (XML)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from notify.feeds import fold, ics_escape, planned_ics
from notify.render import Renderer
from notify.service import PublicFacts
from tests.unit.notify.test_notify_world import T0, incident

ATOM = "{http://www.w3.org/2005/Atom}"


def test_ics_escapes_folds_and_uses_crlf() -> None:
    planned = incident(
        kind="planned",
        cause="Opgradering; Cosmic, del 2\\3 – med en meget lang forklaring " * 3,
        start=T0 + timedelta(days=5),
        expected_end=T0 + timedelta(days=5, hours=6),
    )
    acute = incident(id=8)
    text = planned_ics([planned, acute], now=T0, host="edi.example", base_url="https://edi.example")
    raw = text.encode("utf-8")
    assert raw.count(b"\r\n") == raw.count(b"\n")  # every line ends CRLF
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    unfolded = text.replace("\r\n ", "")
    lines = unfolded.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert lines.count("BEGIN:VEVENT") == 1  # only planned shutdowns
    assert "DTSTART:20261128T090000Z" in lines and "DTEND:20261128T150000Z" in lines
    summary = next(line for line in lines if line.startswith("SUMMARY:"))
    assert "Opgradering\\; Cosmic\\, del 2\\\\3" in summary
    assert "UID:incident-7@edi.example" in lines


def test_fold_never_splits_a_multibyte_character() -> None:
    folded = fold("SUMMARY:" + "æøå" * 40)
    for part in folded.split("\r\n"):
        assert len(part.encode("utf-8")) <= 75
        part.encode("utf-8").decode("utf-8")
    assert folded.replace("\r\n ", "") == "SUMMARY:" + "æøå" * 40


def test_ics_escape() -> None:
    assert ics_escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne"


def test_atom_is_well_formed_and_escaped() -> None:
    r = Renderer()
    inc = incident(cause="Fejl & <nedbrud>", resolved_at=T0 + timedelta(hours=1))
    text = r.render(
        "web/status.atom",
        {
            "entries": [inc],
            "facts": {inc.id: PublicFacts(None, False, False)},
            "updated": T0,
            "base": "https://edi.example",
            "catalogue": {"XDIS17": "Udskrivningsadvis"},
            "org_name": lambda e: "Odense Kommune",
            "atom_updated": lambda i: i.resolved_at,
            "iso": lambda t: t.astimezone(UTC).isoformat(),
        },
    )
    root = ElementTree.fromstring(text.encode("utf-8"))
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title") == "[Løst] Akut nedbrud: Fejl & <nedbrud>"
    assert entry.findtext(f"{ATOM}id") == "https://edi.example/incidents/7"
    datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
