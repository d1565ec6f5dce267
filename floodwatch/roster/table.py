"""The duty table: rows of time in which nobody on duty changes, for printing and pinning up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from floodwatch.roster.model import Assignment, Roster


@dataclass(frozen=True)
class Row:
    """From `start` to `end` (aware, in the roster's zone) these assignments hold."""

    start: datetime
    end: datetime
    assignments: dict[str, Assignment]


def table_range(roster: Roster, start: date, days: int) -> tuple[datetime, datetime]:
    """[first handover on `start`, the same wall-clock time `days` later), in UTC.

    The first handover is the earliest start of any role's shift on that date (local time).
    """
    zone = roster.timezone
    midnight = datetime.combine(start, time(0), zone).astimezone(UTC)
    firsts = []
    for rotation in roster.rotations:
        n = rotation.index_at(midnight)
        if rotation.start_utc(n) < midnight:
            n += 1
        firsts.append(rotation.start_utc(n))
    first = min(firsts, default=midnight)
    local = first.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return first, local.replace(tzinfo=zone).astimezone(UTC)


def shifts(roster: Roster, start: date, days: int) -> list[Row]:
    """The duty table for `days` days from the first handover on `start`.

    A new row begins whenever anyone's duty changes: at each role's handover and where an
    override begins or ends, so a table of 24 h shifts has one row a day.
    """
    first, last = table_range(roster, start, days)
    cuts = {first, last}
    for role in roster.roles:
        cuts.update(s for s, _, _ in roster.segments(role, first, last))
    points = sorted(cuts)
    zone = roster.timezone
    return [
        Row(s.astimezone(zone), e.astimezone(zone), roster.on_duty(s).assignments)
        for s, e in zip(points, points[1:], strict=False)
    ]
