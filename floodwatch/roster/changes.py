"""What changed between two rosters: for the duty-log entry written when a roster is reloaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from floodwatch.clock import require_aware
from floodwatch.roster.model import Roster


@dataclass(frozen=True)
class ShiftChange:
    """From `start` to `end`, `role` was held by `before` and is now held by `after`."""

    role: str
    start: datetime
    end: datetime
    before: tuple[str, ...]
    after: tuple[str, ...]


@dataclass(frozen=True)
class RosterDiff:
    people_added: tuple[str, ...]
    people_removed: tuple[str, ...]
    people_changed: tuple[str, ...]  # name, phones, e-mail, chat ids or language changed
    roles_added: tuple[str, ...]
    roles_removed: tuple[str, ...]
    shifts: tuple[ShiftChange, ...]

    def __bool__(self) -> bool:
        return any(
            (
                self.people_added, self.people_removed, self.people_changed,
                self.roles_added, self.roles_removed, self.shifts,
            )
        )  # fmt: skip

    def summary(self, zone: ZoneInfo) -> list[str]:
        """One line per change, times in `zone`: the text of the duty-log entry."""
        if not self:
            return ["no change to who is on duty"]
        lines = []
        for label, ids in (
            ("people added", self.people_added),
            ("people removed", self.people_removed),
            ("contact details changed", self.people_changed),
            ("roles added", self.roles_added),
            ("roles removed", self.roles_removed),
        ):
            if ids:
                lines.append(f"{label}: {', '.join(ids)}")
        for c in self.shifts:
            before = ", ".join(c.before) or "nobody"
            after = ", ".join(c.after) or "nobody"
            span = (
                f"{c.start.astimezone(zone):%Y-%m-%d %H:%M} to {c.end.astimezone(zone):%m-%d %H:%M}"
            )
            lines.append(f"{c.role} {span}: {before} -> {after}")
        return lines


def diff(old: Roster, new: Roster, start: datetime, days: int) -> RosterDiff:
    """Compare two rosters over `days` days from `start`: people, roles, and who holds each
    role when (adjacent changes with the same people are merged)."""
    start = require_aware(start, "start")
    end = start + timedelta(days=days)
    common = sorted(old.roles & new.roles)
    changes: list[ShiftChange] = []
    for role in common:
        cuts = {start, end}
        for roster in (old, new):
            cuts.update(s for s, _, _ in roster.segments(role, start, end))
        points = sorted(cuts)
        last: ShiftChange | None = None
        for s, e in zip(points, points[1:], strict=False):
            before = old.assignment(role, s).people
            after = new.assignment(role, s).people
            if set(before) == set(after):
                last = None
                continue
            if last is not None and last.end == s and (last.before, last.after) == (before, after):
                last = changes[-1] = ShiftChange(role, last.start, e, before, after)
                continue
            last = ShiftChange(role, s, e, before, after)
            changes.append(last)
    old_ids, new_ids = set(old.people), set(new.people)
    changed = sorted(p for p in old_ids & new_ids if _details(old, p) != _details(new, p))
    return RosterDiff(
        people_added=tuple(sorted(new_ids - old_ids)),
        people_removed=tuple(sorted(old_ids - new_ids)),
        people_changed=tuple(changed),
        roles_added=tuple(sorted(new.roles - old.roles)),
        roles_removed=tuple(sorted(old.roles - new.roles)),
        shifts=tuple(sorted(changes, key=lambda c: (c.start, c.role))),
    )


def _details(roster: Roster, person_id: str) -> tuple[object, ...]:
    p = roster.person(person_id)
    return (p.name, p.language, p.phones, p.email, tuple(sorted(p.chat.items())))
