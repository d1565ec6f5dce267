"""Duty rosters: who is on duty, in which role, at any instant; gaps, tables, calendars, diffs."""

from __future__ import annotations

from floodwatch.roster.changes import RosterDiff, ShiftChange, diff
from floodwatch.roster.coverage import Gap, gaps
from floodwatch.roster.ical import to_ical
from floodwatch.roster.load import load_rosters
from floodwatch.roster.model import (
    Assignment,
    Duty,
    Override,
    Person,
    Reason,
    Role,
    Roster,
    Rotation,
    Season,
    Span,
    Swap,
    Why,
    mask_phone,
)
from floodwatch.roster.table import Row, shifts

__all__ = [
    "Assignment",
    "Duty",
    "Gap",
    "Override",
    "Person",
    "Reason",
    "Role",
    "Roster",
    "RosterDiff",
    "Rotation",
    "Row",
    "Season",
    "ShiftChange",
    "Span",
    "Swap",
    "Why",
    "diff",
    "gaps",
    "load_rosters",
    "mask_phone",
    "shifts",
    "to_ical",
]
