"""Publishing for intranets and calendars: the iCalendar feed of planned shutdowns (written by hand,
RFC 5545: CRLF line ends, 75-octet folding, TEXT escaping, times in UTC) and the Atom feed's entries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from notify.model import Incident


def ics_escape(text: str) -> str:
    """RFC 5545 §3.3.11 TEXT: backslash, semicolon, comma escaped; newlines as \\n."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line at 75 octets (UTF-8), never inside a multi-byte character."""
    out: list[str] = []
    current = b""
    limit = 75
    for ch in line:
        b = ch.encode("utf-8")
        if len(current) + len(b) > limit:
            out.append(current.decode("utf-8"))
            current = b" "
            limit = 75
        current += b
    out.append(current.decode("utf-8"))
    return "\r\n".join(out)


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def planned_ics(
    incidents: Iterable[Incident], *, now: datetime, host: str, base_url: str, org_name: object = str
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Region Syddanmark//edigate EDI-nedbrud//DA",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "X-WR-CALNAME:Planlagte EDI-nedlukninger",
    ]
    for inc in incidents:
        if inc.kind != "planned" or not inc.confirmed:
            continue
        end = inc.resolved_at or inc.expected_end
        summary = f"Planlagt EDI-nedlukning: {inc.cause}"
        description = (
            f"Berørte meddelelser: {', '.join(inc.affected_messages)}\n"
            f"Kontaktperson: {inc.contact.name}, tlf. {inc.contact.phone}\n"
            f"{base_url}/status/incidents/{inc.id}"
        )
        lines += [
            "BEGIN:VEVENT",
            f"UID:incident-{inc.id}@{host}",
            f"DTSTAMP:{_utc(now)}",
            f"DTSTART:{_utc(inc.start)}",
            f"DTEND:{_utc(end)}",
            f"SUMMARY:{ics_escape(summary)}",
            f"DESCRIPTION:{ics_escape(description)}",
            f"URL:{base_url}/status/incidents/{inc.id}",
            "STATUS:" + ("CANCELLED" if inc.resolved_at and inc.resolved_at < inc.start else "CONFIRMED"),
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def atom_updated(incident: Incident) -> datetime:
    return max(t for t in (incident.reported_at, incident.last_update_at, incident.resolved_at) if t is not None)
