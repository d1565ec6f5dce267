"""Roster YAML files -> a validated Roster. Any error rejects every file given, whole."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from floodwatch import yamlsource
from floodwatch.config import Name, TimeZone
from floodwatch.errors import ConfigError, Problem
from floodwatch.roster.model import Person, Roster, Rotation

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _handover(value: Any) -> time:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 08:00 as a sexagesimal integer (480)
        return time(value // 60, value % 60)
    if isinstance(value, str) and (m := _HHMM.match(value)):
        return time(int(m.group(1)), int(m.group(2)))
    raise ValueError(f'expected a local time as "HH:MM" (e.g. "08:00"), found {value!r}')


Handover = Annotated[time, BeforeValidator(_handover)]
E164 = Annotated[str, Field(pattern=r"^\+[1-9]\d{6,14}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class PersonEntry(_Strict):
    id: Name
    name: str = Field(min_length=1)
    language: Literal["zh-CN", "en"] = "zh-CN"
    phone: E164 | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class RotationEntry(_Strict):
    role: Name
    members: list[Name] = Field(min_length=1)
    per_shift: int = Field(default=1, ge=1)
    handover: Handover = time(8, 0)
    anchor: date

    @field_validator("members")
    @classmethod
    def _distinct(cls, members: list[str]) -> list[str]:
        dupes = sorted({m for m in members if members.count(m) > 1})
        if dupes:
            raise ValueError(f"a member is listed twice: {', '.join(dupes)}")
        return members


class RosterFile(_Strict):
    version: Literal[1]
    timezone: TimeZone | None = None
    people: list[PersonEntry] = Field(default_factory=list)
    rotations: list[RotationEntry] = Field(default_factory=list)


def load_rosters(
    paths: Sequence[str | Path], default_zone: TimeZone, *, env: Mapping[str, str] | None = None
) -> Roster:
    """Load and merge roster files; ids must be unique across all of them."""
    problems: list[Problem] = []
    parsed: list[tuple[yamlsource.Document, RosterFile]] = []
    for path in paths:
        try:
            doc = yamlsource.load(path, env=env)
            parsed.append((doc, yamlsource.validate(RosterFile, doc)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)

    people: dict[str, Person] = {}
    where: dict[str, str] = {}
    for doc, roster in parsed:
        for i, p in enumerate(roster.people):
            if p.id in people:
                problems.append(
                    doc.problem(
                        ("people", i, "id"),
                        f"duplicate person id {p.id!r} (first in {where[p.id]})",
                    )
                )
                continue
            people[p.id] = Person(p.id, p.name, p.language, p.phone, p.email)
            line, _ = doc.where(("people", i, "id"))
            where[p.id] = f"{doc.file}:{line}"

    rotations: list[Rotation] = []
    roles: dict[str, str] = {}
    for doc, roster in parsed:
        zone = roster.timezone or default_zone
        for i, r in enumerate(roster.rotations):
            for j, member in enumerate(r.members):
                if member not in people:
                    problems.append(
                        doc.problem(("rotations", i, "members", j), f"unknown person {member!r}")
                    )
            if r.per_shift > len(r.members):
                problems.append(
                    doc.problem(
                        ("rotations", i, "per_shift"),
                        f"{r.per_shift} per shift but only {len(r.members)} members",
                    )
                )
            if r.role in roles:
                problems.append(
                    doc.problem(
                        ("rotations", i, "role"),
                        f"role {r.role!r} already has a rotation (in {roles[r.role]})",
                    )
                )
            line, _ = doc.where(("rotations", i, "role"))
            roles[r.role] = f"{doc.file}:{line}"
            rotations.append(
                Rotation(r.role, tuple(r.members), r.per_shift, r.handover, r.anchor, zone)
            )
    if problems:
        raise ConfigError(problems)
    return Roster(people=people, rotations=tuple(rotations))
