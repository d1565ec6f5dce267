"""Coverage: the stretches of time in which a role has fewer people than its shift asks for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from floodwatch.clock import require_aware
from floodwatch.roster.model import Roster


@dataclass(frozen=True)
class Gap:
    """`role` has only `present` (fewer than `required`) from `start` to `end`."""

    role: str
    start: datetime
    end: datetime
    required: int
    present: tuple[str, ...]

    @property
    def missing(self) -> int:
        return self.required - len(self.present)


def gaps(roster: Roster, start: datetime, end: datetime) -> list[Gap]:
    """Every uncovered interval of [start, end), per role, in time order (then role).

    Adjacent stretches of one role with the same people present are merged; times are aware,
    in the zone of the role's rotation.
    """
    start, end = require_aware(start, "start"), require_aware(end, "end")
    found: list[Gap] = []
    for role in sorted(roster.roles):
        zone = roster.rotation(role).timezone
        last: Gap | None = None
        for s, e, a in roster.segments(role, start, end):
            if a.short == 0:
                last = None
                continue
            if last is not None and last.end == s and last.present == a.people:
                last = found[-1] = Gap(role, last.start, e.astimezone(zone), a.required, a.people)
                continue
            last = Gap(role, s.astimezone(zone), e.astimezone(zone), a.required, a.people)
            found.append(last)
    return sorted(found, key=lambda g: (g.start, g.role))
