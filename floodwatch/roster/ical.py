"""Duty shifts as an RFC 5545 calendar, one event per shift.

Written here rather than with a library: the subset needed (VEVENTs with UTC times, escaped
text, folded lines) is small, and the output stays byte-for-byte reproducible. Times are UTC
(``...Z``), which every calendar shows in the reader's own zone, so no VTIMEZONE is needed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from floodwatch.clock import require_aware
from floodwatch.roster.model import Assignment, Roster

PRODID = "-//floodwatch//duty roster//EN"


def to_ical(
    roster: Roster,
    start: datetime,
    end: datetime,
    person: str | None = None,
    role: str | None = None,
    *,
    stamp: datetime | None = None,
    name: str = "",
) -> bytes:
    """The shifts overlapping [start, end) as iCalendar bytes (UTF-8, CRLF).

    One event per shift of each role; with `person`, only the shifts that person holds (the
    part they hold, if an override covers only part of a shift); with `role`, only that role.
    A shift whose people change part-way (an override for part of it) is one event per part.
    `stamp` is the DTSTAMP (when the export was made); it defaults to `start`.
    """
    start, end = require_aware(start, "start"), require_aware(end, "end")
    stamp = require_aware(stamp or start, "stamp")
    if person is not None and person not in roster.people:
        raise KeyError(person)
    roles = sorted(roster.roles) if role is None else [role]
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(name or _calendar_name(roster, person, role))}",
        f"X-WR-TIMEZONE:{roster.timezone.key}",
    ]
    for r in roles:
        for s, e, a in _events(roster, r, start, end, person):
            lines.extend(_event(roster, r, s, e, a, person, stamp))
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines).encode("utf-8")


def _events(
    roster: Roster, role: str, start: datetime, end: datetime, person: str | None
) -> list[tuple[datetime, datetime, Assignment]]:
    """Segments merged within each shift while the people (or the person's presence) stay."""
    out: list[tuple[datetime, datetime, Assignment]] = []
    for s, e, a in roster.segments(role, start, end, clip=False):
        if person is not None and person not in a.people:
            continue
        if out:
            ps, pe, pa = out[-1]
            same_shift = pa.start == a.start and pe == s
            if same_shift and (person is not None or pa.people == a.people):
                out[-1] = (ps, e, a if person is None else pa)
                continue
        out.append((s, e, a))
    return out


def _event(
    roster: Roster, role: str, start: datetime, end: datetime, a: Assignment,
    person: str | None, stamp: datetime,
) -> list[str]:  # fmt: skip
    title = roster.role(role).title
    names = ", ".join(roster.person(p).name for p in a.people) or "nobody"
    details = []
    for reason in a.reasons:
        p = roster.person(reason.person)
        phone = f" {p.masked_phone}" if p.masked_phone else ""
        details.append(f"{p.name} ({p.id}){phone}: {reason}")
    for reason in a.absent:
        details.append(f"not on duty: {reason.person}: {reason}")
    if a.short:
        details.append(f"short of {a.short} (needs {a.required})")
    uid = f"{role}-{_utc(start)}-{person or 'all'}@floodwatch"
    return [
        "BEGIN:VEVENT",
        f"UID:{_text(uid)}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(end)}",
        f"SUMMARY:{_text(f'{title}: {names}')}",
        f"DESCRIPTION:{_text(chr(10).join(details))}",
        f"CATEGORIES:{_text(role)}",
        "TRANSP:OPAQUE",
        "END:VEVENT",
    ]


def _calendar_name(roster: Roster, person: str | None, role: str | None) -> str:
    if person is not None:
        return f"Duty: {roster.person(person).name}"
    if role is not None:
        return f"Duty: {roster.role(role).title}"
    return "Duty roster"


def _utc(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _text(value: str) -> str:
    """RFC 5545 3.3.11 TEXT: escape backslash, semicolon, comma and newline."""
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines of at most 75 octets, continued with CRLF and a space; never
    splitting a multi-byte UTF-8 character."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            current, size, limit = "", 0, 74  # continuation lines start with a space
        current += ch
        size += width
    out.append(current)
    return "\r\n ".join(out)
