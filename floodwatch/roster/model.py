"""Roster model and resolution. Pure: no I/O, no clock; `at` is always given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from floodwatch.clock import require_aware


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    language: str = "zh-CN"
    phone: str | None = None
    email: str | None = None

    def __repr__(self) -> str:  # phone numbers stay out of logs and tracebacks
        return f"Person(id={self.id!r}, name={self.name!r}, language={self.language!r})"


@dataclass(frozen=True)
class Rotation:
    """Members take `role` in turn, `per_shift` at a time, for 24 h from `handover` local time."""

    role: str
    members: tuple[str, ...]
    per_shift: int
    handover: time
    anchor: date
    timezone: ZoneInfo

    def shift_at(self, at: datetime) -> Assignment:
        local = require_aware(at, "at").astimezone(self.timezone)
        day = local.date()
        if local.time() < self.handover:
            day -= timedelta(days=1)
        index = (day - self.anchor).days
        start = datetime.combine(day, self.handover, self.timezone)
        end = datetime.combine(day + timedelta(days=1), self.handover, self.timezone)
        n = len(self.members)
        people = tuple(
            self.members[(index * self.per_shift + j) % n] for j in range(self.per_shift)
        )
        return Assignment(self.role, start, end, people)


@dataclass(frozen=True)
class Assignment:
    """Who holds `role` from `start` to `end` (aware, in the rotation's zone)."""

    role: str
    start: datetime
    end: datetime
    people: tuple[str, ...]


@dataclass(frozen=True)
class Duty:
    """Everyone on duty at one instant, by role."""

    at: datetime
    assignments: dict[str, Assignment]

    def people(self, role: str) -> tuple[str, ...]:
        a = self.assignments.get(role)
        return a.people if a else ()


@dataclass(frozen=True)
class Roster:
    people: dict[str, Person]
    rotations: tuple[Rotation, ...]

    @property
    def roles(self) -> set[str]:
        return {r.role for r in self.rotations}

    def on_duty(self, at: datetime) -> Duty:
        """Who is on duty at `at`, by role."""
        return Duty(at, {r.role: r.shift_at(at) for r in self.rotations})

    def person(self, person_id: str) -> Person:
        return self.people[person_id]
