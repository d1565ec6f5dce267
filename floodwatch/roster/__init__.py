"""Duty rosters: who is on duty, in which role, at any instant."""

from __future__ import annotations

from floodwatch.roster.load import load_rosters
from floodwatch.roster.model import Assignment, Duty, Person, Roster, Rotation

__all__ = ["Assignment", "Duty", "Person", "Roster", "Rotation", "load_rosters"]
