"""Duty events that follow from the roster and the clock: handovers and their reminders. Pure.

Like escalation, these are computed for an interval of time (since the last check, until now),
so a restart or a clock jump announces each handover once, never zero or twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from floodwatch.clock import require_aware
from floodwatch.roster import Roster

_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class Handover:
    """At `at` the shift changes hands: `outgoing` are released, `incoming` take over (by role)."""

    at: datetime
    outgoing: dict[str, tuple[str, ...]]
    incoming: dict[str, tuple[str, ...]]


def handovers(roster: Roster, since: datetime, until: datetime) -> list[Handover]:
    """Every shift start in (since, until], with who leaves and who arrives, in time order."""
    since, until = require_aware(since, "since"), require_aware(until, "until")
    instants: dict[datetime, list[str]] = {}
    for role in sorted(roster.roles):
        rotation = roster.rotation(role)
        n = rotation.index_at(since) + 1
        while (start := rotation.start_utc(n)) <= until:
            instants.setdefault(start, []).append(role)
            n += 1
    out = []
    for at in sorted(instants):
        before, after = roster.on_duty(at - _JUST_BEFORE), roster.on_duty(at)
        roles = instants[at]
        out.append(
            Handover(
                at,
                {r: before.people(r) for r in roles},
                {r: after.people(r) for r in roles},
            )
        )
    return out


def reminders(roster: Roster, since: datetime, until: datetime, ahead: timedelta) -> list[Handover]:
    """The handovers whose reminder time (`ahead` before them) falls in (since, until]."""
    return handovers(roster, since + ahead, until + ahead)
